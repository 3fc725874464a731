//! Work shared among processes: a shard is one process's share of a run (of `iaemu generate`
//! or `iaemu tabulate`), the work items whose number is its index modulo the shard count, so
//! shards need no coordination and add up to the whole run. Under MPI or SLURM each process
//! finds its own index and count ([`Shard::from_launcher`]), so those launchers run shards
//! without any scheduler of ours.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One process's share of a run: the work items (chunks) `c` with `c % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether work item `item` is this shard's.
    #[inline]
    pub fn takes(&self, item: usize) -> bool {
        item % self.count == self.index
    }

    /// `k/n` with 0 <= k < n.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || Error::invalid(format!("shard {s:?}: write k/n with 0 <= k < n, or auto"));
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard a `--shard` flag names: none (the whole run), `k/n`, or `auto`
    /// ([`Shard::from_launcher`]).
    pub fn from_flag(flag: Option<&str>) -> Result<Shard> {
        match flag {
            None => Ok(Shard::WHOLE),
            Some("auto") => Shard::from_launcher(),
            Some(s) => Shard::parse(s),
        }
    }

    /// The rank and size a launcher gives this process: OpenMPI (`OMPI_COMM_WORLD_RANK`,
    /// `OMPI_COMM_WORLD_SIZE`), MPICH and Intel MPI (`PMI_RANK`, `PMI_SIZE`), a SLURM job array
    /// (`SLURM_ARRAY_TASK_ID` from `SLURM_ARRAY_TASK_MIN` to `SLURM_ARRAY_TASK_MAX`), or `srun`
    /// (`SLURM_PROCID`, `SLURM_NTASKS`).
    pub fn from_launcher() -> Result<Shard> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        let pairs = [
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
        ];
        for (rank, size) in pairs {
            if let (Some(index), Some(count)) = (var(rank), var(size)) {
                return Shard::parse(&format!("{index}/{count}"));
            }
        }
        if let (Some(id), Some(min), Some(max)) = (
            var("SLURM_ARRAY_TASK_ID"),
            var("SLURM_ARRAY_TASK_MIN"),
            var("SLURM_ARRAY_TASK_MAX"),
        ) {
            if id >= min && max >= min {
                return Shard::parse(&format!("{}/{}", id - min, max - min + 1));
            }
        }
        if let (Some(index), Some(count)) = (var("SLURM_PROCID"), var("SLURM_NTASKS")) {
            return Shard::parse(&format!("{index}/{count}"));
        }
        Err(Error::invalid(
            "--shard auto: no MPI (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE) or SLURM \
             (SLURM_ARRAY_TASK_ID/MIN/MAX, SLURM_PROCID/NTASKS) rank found in the environment",
        ))
    }
}
