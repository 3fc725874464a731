//! placeholder
pub struct SyntheticUniverse;
