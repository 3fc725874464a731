//! The halo columns (docs/science.md section 7): names, units, which are required, and the raw
//! table readers fill before validation. This is the one list of columns; readers, the writer
//! and the C ABI take names from here.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A catalogue column, named as in halotools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    Id,
    Upid,
    Hostid,
    Mvir,
    Mpeak,
    MvirHostHalo,
    Rvir,
    /// Input only: the catalogue keeps `halo_nfw_conc` = rvir / rs.
    Rs,
    NfwConc,
    X,
    Y,
    Z,
    Vx,
    Vy,
    Vz,
    AxisAX,
    AxisAY,
    AxisAZ,
    /// Axis ratio b/a (intermediate over major), dimensionless, in (0, 1]; NaN where unknown.
    BToA,
    /// Axis ratio c/a (minor over major), dimensionless, in (0, b/a]; NaN where unknown.
    CToA,
}

impl Column {
    /// Every column, in the order files are written.
    pub const ALL: [Column; 20] = [
        Column::Id,
        Column::Upid,
        Column::Hostid,
        Column::Mvir,
        Column::Mpeak,
        Column::MvirHostHalo,
        Column::Rvir,
        Column::Rs,
        Column::NfwConc,
        Column::X,
        Column::Y,
        Column::Z,
        Column::Vx,
        Column::Vy,
        Column::Vz,
        Column::AxisAX,
        Column::AxisAY,
        Column::AxisAZ,
        Column::BToA,
        Column::CToA,
    ];

    /// Floating-point columns a [`super::HaloCatalog`] stores, in slot order.
    pub(crate) const STORED_FLOAT: [Column; 16] = [
        Column::Mvir,
        Column::Mpeak,
        Column::MvirHostHalo,
        Column::Rvir,
        Column::NfwConc,
        Column::X,
        Column::Y,
        Column::Z,
        Column::Vx,
        Column::Vy,
        Column::Vz,
        Column::AxisAX,
        Column::AxisAY,
        Column::AxisAZ,
        Column::BToA,
        Column::CToA,
    ];

    /// The halotools name, e.g. `halo_mvir`.
    pub fn name(self) -> &'static str {
        match self {
            Column::Id => "halo_id",
            Column::Upid => "halo_upid",
            Column::Hostid => "halo_hostid",
            Column::Mvir => "halo_mvir",
            Column::Mpeak => "halo_mpeak",
            Column::MvirHostHalo => "halo_mvir_host_halo",
            Column::Rvir => "halo_rvir",
            Column::Rs => "halo_rs",
            Column::NfwConc => "halo_nfw_conc",
            Column::X => "halo_x",
            Column::Y => "halo_y",
            Column::Z => "halo_z",
            Column::Vx => "halo_vx",
            Column::Vy => "halo_vy",
            Column::Vz => "halo_vz",
            Column::AxisAX => "halo_axisA_x",
            Column::AxisAY => "halo_axisA_y",
            Column::AxisAZ => "halo_axisA_z",
            Column::BToA => "halo_b_to_a",
            Column::CToA => "halo_c_to_a",
        }
    }

    /// The column called `name` (halotools spelling).
    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Unit of the values in a catalogue (after conversion from the file's units).
    pub fn unit(self) -> &'static str {
        match self {
            Column::Id
            | Column::Upid
            | Column::Hostid
            | Column::NfwConc
            | Column::BToA
            | Column::CToA => "",
            Column::Mvir | Column::Mpeak | Column::MvirHostHalo => "Msun/h",
            Column::Rvir | Column::Rs | Column::X | Column::Y | Column::Z => "Mpc/h",
            Column::Vx | Column::Vy | Column::Vz => "km/s",
            Column::AxisAX | Column::AxisAY | Column::AxisAZ => "direction only",
        }
    }

    /// Integer columns (ids).
    pub fn is_integer(self) -> bool {
        matches!(self, Column::Id | Column::Upid | Column::Hostid)
    }

    /// Slot in [`super::HaloCatalog`]'s float storage, `None` for ids and `Rs`.
    pub(crate) fn float_slot(self) -> Option<usize> {
        Column::STORED_FLOAT.iter().position(|&c| c == self)
    }
}

/// Columns as read from a file, before validation; a column not set is absent.
///
/// [`super::HaloCatalog::from_raw`] requires `halo_id`, `halo_mvir`, `halo_rvir`,
/// `halo_x/y/z`, `halo_axisA_x/y/z` and one of `halo_nfw_conc` or `halo_rs`, all of one length,
/// and fills in the rest:
/// - `halo_nfw_conc` = rvir / rs;
/// - `halo_upid` by the geometric rule: from the most massive halo down, a halo is a subhalo of
///   the most massive host halo whose rvir contains its centre (periodic distances), else a
///   host;
/// - `halo_hostid` = id for hosts, upid for subhalos;
/// - `halo_mvir_host_halo` = the host's mvir;
/// - `halo_mpeak` = mvir; `halo_vx/vy/vz` = 0;
/// - `halo_b_to_a`, `halo_c_to_a` (the shape) = NaN on every row: unknown.
///
/// The shape columns are optional. A value of exactly 0 is Rockstar's mark of a shape it could
/// not measure (too few particles) and is kept as NaN (unknown); NaN rows are unknown too.
/// Other values must lie in (0, 1] (an error naming the column and counting the rows), and
/// `halo_c_to_a` may exceed `halo_b_to_a` by at most 1e-6 (rounding in text files).
#[derive(Clone, Debug, Default)]
pub struct RawHalos {
    ints: BTreeMap<Column, Vec<i64>>,
    floats: BTreeMap<Column, Vec<f64>>,
}

impl RawHalos {
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets an integer column.
    pub fn set_ints(&mut self, c: Column, v: Vec<i64>) -> Result<()> {
        if !c.is_integer() {
            return Err(Error::invalid(format!(
                "{} holds floating-point values, not integers",
                c.name()
            )));
        }
        self.ints.insert(c, v);
        Ok(())
    }
    /// Sets a floating-point column.
    pub fn set_floats(&mut self, c: Column, v: Vec<f64>) -> Result<()> {
        if c.is_integer() {
            return Err(Error::invalid(format!(
                "{} holds integer ids, not floating-point values",
                c.name()
            )));
        }
        self.floats.insert(c, v);
        Ok(())
    }
    pub fn has(&self, c: Column) -> bool {
        self.ints.contains_key(&c) || self.floats.contains_key(&c)
    }
    pub(crate) fn take_ints(&mut self, c: Column) -> Option<Vec<i64>> {
        self.ints.remove(&c)
    }
    pub(crate) fn take_floats(&mut self, c: Column) -> Option<Vec<f64>> {
        self.floats.remove(&c)
    }
    /// Lengths of the columns present, by name.
    pub(crate) fn lengths(&self) -> Vec<(&'static str, usize)> {
        let ints = self.ints.iter().map(|(c, v)| (c.name(), v.len()));
        ints.chain(self.floats.iter().map(|(c, v)| (c.name(), v.len())))
            .collect()
    }
}
