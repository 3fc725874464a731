//! The pair-counting kernel.
//!
//! Galaxies are sorted by cell, and by z inside a cell, so that a column of cells along z is
//! one z-sorted run of memory. For each cell, the kernel lists the neighbour columns (half of
//! them for auto-correlations, all for cross), each cut into segments of one periodic shift
//! and one jackknife label. Each galaxy of the cell then skips the columns farther than r_max
//! in (x, y), keeps the z window |dz| <= r_max of each segment (two pointers per segment that
//! only move forward, as the galaxies are z-sorted), and runs two tight loops: over each
//! window, distances with a branch-free selection of the pairs in (r_min, r_max] into one
//! buffer; then, once over all the galaxy's pairs (once per segment with a jackknife), the
//! three statistics and the bin of each pair. The kernel is compiled for the baseline CPU and for AVX2 and
//! AVX-512, and the best one the CPU supports is picked at run time ([`Isa`]; `IAEMU_ISA` forces
//! another); all variants do the same IEEE operations in the same order, so results do not
//! depend on the pick. The vector passes avoid what measured slow: pass 1 stores every
//! vector's compressed lanes rather than branching on whether any were selected; pass 2 reads
//! each partner's orientation and weight as one 32-byte row (`Prepared::ew`) and transposes
//! rows into vectors rather than gathering, and with AVX-512 finds the bin from per-binade
//! tables held in registers (`Binades`) rather than gathering from the bin table.

use super::grid::{Aligned4, Grid, Prepared};
use super::{BinSums, PairTotals, Plan};
use crate::shard::Shard;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Cells per parallel work item. Fixed, so that partial sums are added in the same order for
/// any thread count.
const CHUNK_CELLS: usize = 16;

/// Maps a squared separation to its bin with a table indexed by the top bits of its f64
/// representation (exponent and `m` mantissa bits: a piecewise-logarithmic index). The
/// resolution is chosen so that each table cell holds at most one bin edge; each entry then
/// gives the first bin of its cell and, if an edge lies inside, that edge's low bits, so that
/// the bin is one table read and one integer comparison (positive doubles order as their
/// bit patterns). Edges too close for any resolution fall back to comparisons.
pub(crate) struct BinLookup {
    /// Squared bin edges.
    e2: Vec<f64>,
    rmin2: f64,
    rmax2: f64,
    /// Bits below the table index.
    shift: u32,
    /// Table index of rmin2.
    base: u64,
    /// `first_bin << 48 | threshold`: threshold is the low `shift` bits of the edge inside
    /// the cell, or `1 << shift` (never exceeded) when none is.
    table: Vec<u64>,
    /// Every cell holds at most one interior edge (else `bin` compares edges one by one).
    single_edge: bool,
    /// The same bins from the binade of r2, small enough for the AVX-512 pass 2 to hold in
    /// registers instead of reading the table (None when the edges do not fit).
    binades: Option<Binades>,
}

/// Binades of r^2 (powers of two) covered by a [`Binades`] lookup: 16 entries, two AVX-512
/// registers of f64 per table.
const BINADES: usize = 16;

/// A bin lookup by binade, when (r_min^2, r_max^2] spans at most [`BINADES`] binades with at
/// most two interior edges in each: the bin of r2 in binade k (counted from r_min^2's) is
/// `first[k] + (r2 > next1[k]) + (r2 > next2[k])`, the interior edges below the binade plus
/// those inside it below r2 (an edge past the binade compares false). Exact, as the table.
struct Binades {
    /// Biased exponent of r_min^2.
    exp0: u64,
    first: [i64; BINADES],
    /// The first and second interior edges inside each binade (infinite when fewer).
    next1: [f64; BINADES],
    next2: [f64; BINADES],
}

impl Binades {
    /// None when the edges do not fit (r_min = 0, a wider range, or crowded edges).
    fn new(e2: &[f64]) -> Option<Binades> {
        let (rmin2, rmax2) = (e2[0], e2[e2.len() - 1]);
        if !rmin2.is_normal() {
            return None;
        }
        let exponent = |v: f64| v.to_bits() >> 52;
        let exp0 = exponent(rmin2);
        if exponent(rmax2) - exp0 >= BINADES as u64 {
            return None;
        }
        let interior = &e2[1..e2.len() - 1];
        let mut out = Binades {
            exp0,
            first: [0; BINADES],
            next1: [f64::INFINITY; BINADES],
            next2: [f64::INFINITY; BINADES],
        };
        for k in 0..BINADES {
            let e = exp0 + k as u64;
            let first = interior.iter().filter(|&&v| exponent(v) < e).count();
            let inside: Vec<f64> = interior.iter().copied().filter(|&v| exponent(v) == e).collect();
            if inside.len() > 2 {
                return None;
            }
            out.first[k] = first as i64;
            for (slot, v) in [&mut out.next1[k], &mut out.next2[k]].into_iter().zip(inside) {
                *slot = v;
            }
        }
        Some(out)
    }
}

const THRESHOLD_BITS: u32 = 48;

impl BinLookup {
    pub fn new(r_edges: &[f64]) -> BinLookup {
        let e2: Vec<f64> = r_edges.iter().map(|r| r * r).collect();
        let (rmin2, rmax2) = (e2[0], e2[e2.len() - 1]);
        let nb = e2.len() - 1;
        let key = |v: f64, shift: u32| v.to_bits() >> shift;
        let table_len = |shift: u32| (key(rmax2, shift) - key(rmin2, shift) + 1) as usize;
        let single = |shift: u32| {
            (1..nb.saturating_sub(1)).all(|k| key(e2[k], shift) != key(e2[k + 1], shift))
        };
        // Start at 8 mantissa bits (cells 0.27% wide in r^2); refine while two edges share
        // a cell, coarsen while the table would be huge.
        let mut shift = 52 - 8;
        while table_len(shift) > 1 << 16 && shift < 52 {
            shift += 1;
        }
        while !single(shift) && shift > 36 && table_len(shift - 1) <= 1 << 20 {
            shift -= 1;
        }
        let single_edge = single(shift) && shift < THRESHOLD_BITS;
        let base = key(rmin2, shift);
        let low = |v: f64| v.to_bits() & ((1u64 << shift) - 1);
        let table = (0..table_len(shift) as u64)
            .map(|k| {
                let lo = f64::from_bits((k + base) << shift);
                // Largest j with e2[j] < lo: every r2 of this cell lies in bin >= j.
                let first = e2.iter().take(nb).rposition(|&e| e < lo).unwrap_or(0);
                let next = e2[first + 1];
                let threshold = if key(next, shift) == k + base {
                    low(next)
                } else {
                    1u64 << shift
                };
                (first as u64) << THRESHOLD_BITS | threshold
            })
            .collect();
        let binades = Binades::new(&e2);
        BinLookup {
            e2,
            rmin2,
            rmax2,
            shift,
            base,
            table,
            single_edge,
            binades,
        }
    }

    /// Bin of `r2`, which must lie in (rmin2, rmax2].
    #[inline(always)]
    fn bin(&self, r2: f64) -> usize {
        self.view().bin(r2)
    }

    /// The lookup's fields as plain values, for a loop to hold in registers.
    #[inline(always)]
    fn view(&self) -> BinView<'_> {
        BinView {
            e2: &self.e2,
            table: &self.table,
            shift: self.shift,
            base: self.base,
            single_edge: self.single_edge,
        }
    }
}

/// A [`BinLookup`] borrowed field by field.
#[derive(Clone, Copy)]
struct BinView<'a> {
    e2: &'a [f64],
    table: &'a [u64],
    shift: u32,
    base: u64,
    single_edge: bool,
}

impl BinView<'_> {
    /// As [`BinLookup::bin`].
    #[inline(always)]
    fn bin(self, r2: f64) -> usize {
        let bits = r2.to_bits();
        let entry = self.table[((bits >> self.shift) - self.base) as usize];
        let mut b = (entry >> THRESHOLD_BITS) as usize;
        if self.single_edge {
            let threshold = entry & ((1u64 << THRESHOLD_BITS) - 1);
            b + ((bits & ((1u64 << self.shift) - 1)) > threshold) as usize
        } else {
            while r2 > self.e2[b + 1] {
                b += 1;
            }
            b
        }
    }
}

/// A run of partner galaxies `start..end` of one periodic shift and one jackknife label.
#[derive(Clone, Copy)]
struct Segment {
    start: usize,
    end: usize,
    /// Added to the partners' coordinates to bring them next to the cell.
    shift: [f64; 3],
    label: usize,
    /// The cell's own galaxies (auto-correlation): galaxy i pairs only with later ones.
    triangular: bool,
    /// Extent of the column in x and y (shifted), for skipping it per galaxy; infinite on the
    /// minimum-image fallback grid.
    x_range: [f64; 2],
    y_range: [f64; 2],
    /// Largest |dz| of a pair, from the column's (x, y) gap to the cell (widened a little
    /// against rounding).
    reach_z: f64,
}

/// Read-only state shared by all work items.
struct Ctx<'a> {
    grid: &'a Grid,
    a: &'a Prepared,
    b: &'a Prepared,
    jackknife: bool,
    columns: Vec<[i64; 2]>,
    lookup: BinLookup,
    n_bins: usize,
    r_max: f64,
}

/// Partial sums of one work item.
struct ChunkSums {
    bins: Vec<BinSums>,
    /// (jackknife label, per-bin sums of the pairs that removing that label removes).
    removed: Vec<(usize, Vec<BinSums>)>,
}

/// Counts all pairs; `b = None` for an auto-correlation.
pub(crate) fn count_pairs(
    plan: &Plan,
    grid: &Grid,
    a: &Prepared,
    b: Option<&Prepared>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<PairTotals> {
    let cross = b.is_some();
    let b = b.unwrap_or(a);
    // Pass 1 records partners as 32-bit indices (the AVX-512 gathers take signed ones).
    if b.x.len() >= i32::MAX as usize {
        return Err(Error::invalid(format!(
            "{} galaxies to pair with: at most {} are supported",
            b.x.len(),
            i32::MAX - 1
        )));
    }
    let ctx = Ctx {
        grid,
        a,
        b,
        jackknife: plan.jackknife.is_some(),
        columns: if grid.min_image {
            Vec::new()
        } else {
            grid.columns(plan.r_max(), !cross)
        },
        lookup: BinLookup::new(&plan.r_edges),
        n_bins: plan.n_bins(),
        r_max: plan.r_max(),
    };
    let orient = match (a.oriented, b.oriented) {
        (false, _) => 0u8,
        (true, false) => 1,
        (true, true) => 2,
    };
    let weighted = a.weighted || b.weighted;
    let kernel = select_kernel(cross, orient, weighted, grid.min_image, Isa::selected()?);
    let n_cells = grid.n_cells();
    let n_chunks = n_cells.div_ceil(CHUNK_CELLS);
    let done = AtomicUsize::new(0);
    let chunks: Vec<ChunkSums> = (0..n_chunks)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, c| {
            let cells = c * CHUNK_CELLS..((c + 1) * CHUNK_CELLS).min(n_cells);
            let sums = kernel(&ctx, cells, scratch);
            if let Some(p) = progress {
                p(done.fetch_add(1, Ordering::Relaxed) + 1, n_chunks);
            }
            sums
        })
        .collect();

    let nb = ctx.n_bins;
    let mut bins = vec![BinSums::default(); nb];
    let n_sub = if ctx.jackknife {
        grid.jk_side.pow(3)
    } else {
        0
    };
    let mut removed = vec![BinSums::default(); n_sub * nb];
    for chunk in &chunks {
        for (t, s) in bins.iter_mut().zip(&chunk.bins) {
            t.add(s);
        }
        for (label, sums) in &chunk.removed {
            let row = removed
                .get_mut(label * nb..(label + 1) * nb)
                .ok_or_else(|| Error::Internal(format!("jackknife label {label} out of range")))?;
            for (t, s) in row.iter_mut().zip(sums) {
                t.add(s);
            }
        }
    }
    if !weighted {
        for s in bins.iter_mut().chain(removed.iter_mut()) {
            s.w = s.n as f64;
        }
    }
    Ok(PairTotals { bins, removed })
}

/// Per-thread buffers.
#[derive(Default)]
struct Scratch {
    segments: Vec<Segment>,
    /// Each segment's z window (lo, hi) for the cell's galaxies so far.
    cursors: Vec<(usize, usize)>,
    segment_sums: Vec<BinSums>,
    /// Pass-1 output: the selected partners (indices into the partner sample; offsets into
    /// the segment for [`count_category_pairs`]) and their separations.
    sel: Selected,
}

#[derive(Default)]
struct Selected {
    idx: Vec<u32>,
    r2: Vec<f64>,
    dx: Vec<f64>,
    dy: Vec<f64>,
    dz: Vec<f64>,
    /// Pass-2 terms of the AVX-512 path: bin, w_i w_j, and the weighted omega and eta terms.
    bin: Vec<u32>,
    w: Vec<f64>,
    omega: Vec<f64>,
    eta: Vec<f64>,
}

impl Selected {
    /// Raw pointers to pass 1's outputs (indices, r^2, dx, dy, dz), taken once: the vector
    /// passes' stores through them could not be assumed not to alias `self`.
    fn pass1_out(&mut self) -> (*mut u32, *mut f64, *mut f64, *mut f64, *mut f64) {
        (
            self.idx.as_mut_ptr(),
            self.r2.as_mut_ptr(),
            self.dx.as_mut_ptr(),
            self.dy.as_mut_ptr(),
            self.dz.as_mut_ptr(),
        )
    }

    /// Room for `n` candidates plus the vector slack.
    fn reserve(&mut self, n: usize) {
        let len = n + LANES;
        if self.idx.len() < len {
            self.idx.resize(len, 0);
            self.bin.resize(len, 0);
            for v in [
                &mut self.r2,
                &mut self.dx,
                &mut self.dy,
                &mut self.dz,
                &mut self.w,
                &mut self.omega,
                &mut self.eta,
            ] {
                v.resize(len, 0.0);
            }
        }
    }
}

const ISA_BASELINE: u8 = 0;
const ISA_AVX2: u8 = 1;
const ISA_AVX512: u8 = 2;

/// The environment variable that forces the kernel's instruction set (see [`Isa::selected`]).
pub const ISA_ENV: &str = "IAEMU_ISA";

/// The instruction sets the kernel is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64's SSE2 (and any other architecture).
    Baseline,
    /// AVX2 and FMA (and POPCNT).
    Avx2,
    /// AVX-512 F and VL, with AVX2 and FMA (and POPCNT).
    Avx512,
}

impl Isa {
    pub const ALL: [Isa; 3] = [Isa::Baseline, Isa::Avx2, Isa::Avx512];

    /// The value of `IAEMU_ISA` that picks it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU runs it.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            // (Every CPU with AVX2 has POPCNT; the kernels count selected lanes with it.)
            let fma = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("popcnt");
            match self {
                Isa::Baseline => true,
                Isa::Avx2 => fma,
                Isa::Avx512 => {
                    fma && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Baseline
        }
    }

    /// The widest one this CPU runs.
    pub fn widest() -> Isa {
        *Isa::ALL.iter().rev().find(|i| i.supported()).unwrap_or(&Isa::Baseline)
    }

    /// The one the kernel uses: `IAEMU_ISA` (baseline, avx2 or avx512) when set, else the
    /// widest this CPU runs. An unknown name, or one this CPU cannot run, is an error that
    /// names the choices.
    pub fn selected() -> Result<Isa> {
        let value = match std::env::var(ISA_ENV) {
            Ok(v) if !v.trim().is_empty() => v,
            _ => return Ok(Isa::widest()),
        };
        let supported: Vec<&str> = Isa::ALL.iter().filter(|i| i.supported()).map(|i| i.name()).collect();
        match Isa::ALL.iter().find(|i| i.name() == value.trim().to_ascii_lowercase()) {
            Some(&isa) if isa.supported() => Ok(isa),
            Some(_) => Err(Error::Unsupported(format!(
                "{ISA_ENV}={value}: this CPU does not run it; it runs {}",
                supported.join(", ")
            ))),
            None => Err(Error::invalid(format!(
                "{ISA_ENV}={value}: choose baseline, avx2 or avx512 (this CPU runs {})",
                supported.join(", ")
            ))),
        }
    }
}

type KernelFn = fn(&Ctx, std::ops::Range<usize>, &mut Scratch) -> ChunkSums;

/// Picks the monomorphised kernel for this sample kind and instruction set.
fn select_kernel(cross: bool, orient: u8, weighted: bool, min_image: bool, isa: Isa) -> KernelFn {
    macro_rules! pick {
        ($($c:literal, $o:literal, $w:literal, $m:literal;)*) => {
            match (cross, orient, weighted, min_image) {
                $(($c, $o, $w, $m) => isa::variant::<$c, $o, $w, $m>(isa),)*
                _ => unreachable!("orient is 0, 1 or 2"),
            }
        };
    }
    pick! {
        false, 0, false, false; false, 0, false, true; false, 0, true, false; false, 0, true, true;
        false, 1, false, false; false, 1, false, true; false, 1, true, false; false, 1, true, true;
        false, 2, false, false; false, 2, false, true; false, 2, true, false; false, 2, true, true;
        true, 0, false, false; true, 0, false, true; true, 0, true, false; true, 0, true, true;
        true, 1, false, false; true, 1, false, true; true, 1, true, false; true, 1, true, true;
        true, 2, false, false; true, 2, false, true; true, 2, true, false; true, 2, true, true;
    }
}

mod isa {
    use super::{
        chunk_sums, ChunkSums, Ctx, Isa, KernelFn, Scratch, ISA_AVX2, ISA_AVX512, ISA_BASELINE,
    };
    use std::ops::Range;

    fn baseline<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        chunk_sums::<C, O, W, M, ISA_BASELINE>(ctx, cells, s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,popcnt")]
    unsafe fn avx2_impl<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        chunk_sums::<C, O, W, M, ISA_AVX2>(ctx, cells, s)
    }

    #[cfg(target_arch = "x86_64")]
    fn avx2<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        // SAFETY: only selected by `variant` for an `Isa` this CPU supports (AVX2, FMA, POPCNT).
        unsafe { avx2_impl::<C, O, W, M>(ctx, cells, s) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma,popcnt")]
    unsafe fn avx512_impl<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        chunk_sums::<C, O, W, M, ISA_AVX512>(ctx, cells, s)
    }

    #[cfg(target_arch = "x86_64")]
    fn avx512<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        // SAFETY: only selected by `variant` for an `Isa` this CPU supports (AVX-512F/VL,
        // AVX2, FMA and POPCNT).
        unsafe { avx512_impl::<C, O, W, M>(ctx, cells, s) }
    }

    /// The variant for `isa`, which must be one this CPU supports ([`Isa::selected`] checks).
    pub(super) fn variant<const C: bool, const O: u8, const W: bool, const M: bool>(isa: Isa) -> KernelFn {
        assert!(isa.supported(), "kernel variant {isa:?} on a CPU without it");
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::<C, O, W, M>,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::<C, O, W, M>,
            _ => baseline::<C, O, W, M>,
        }
    }
}

/// All pairs with a first member in `cells`.
#[inline(always)]
fn chunk_sums<const CROSS: bool, const O: u8, const W: bool, const MI: bool, const ISA: u8>(
    ctx: &Ctx,
    cells: std::ops::Range<usize>,
    s: &mut Scratch,
) -> ChunkSums {
    let nb_bins = ctx.n_bins;
    let stride = COPIES * (nb_bins + 1);
    let mut out = ChunkSums {
        bins: vec![BinSums::default(); nb_bins],
        removed: Vec::new(),
    };
    let mut copies = vec![BinSums::default(); stride];
    let (a, b, grid) = (ctx.a, ctx.b, ctx.grid);
    let r_max2 = ctx.r_max * ctx.r_max * (1.0 + 1e-9);
    for cell in cells {
        let own = a.cell(cell);
        if own.is_empty() {
            continue;
        }
        let coords = grid.coords(cell);
        let label = if ctx.jackknife { grid.label(coords) } else { 0 };
        segments::<CROSS, MI>(ctx, cell, coords, label, &mut s.segments);
        if ctx.jackknife {
            s.segment_sums.clear();
            s.segment_sums
                .resize(s.segments.len() * stride, BinSums::default());
        }
        // Galaxy by galaxy (z-sorted, so each segment's window only moves forward): pass 1
        // over every segment into one buffer, then one pass 2 over all the galaxy's pairs
        // (with a jackknife, one per segment, whose sums are kept apart).
        let total: usize = s.segments.iter().map(|g| g.end - g.start).sum();
        s.sel.reserve(total);
        s.cursors.clear();
        s.cursors.extend(s.segments.iter().map(|g| (g.start, g.start)));
        for (li, i) in own.clone().enumerate() {
            let g = Galaxy {
                x: a.x[i],
                y: a.y[i],
                z: a.z[i],
                ex: if O > 0 { a.ew[i].0[0] } else { 0.0 },
                ey: if O > 0 { a.ew[i].0[1] } else { 0.0 },
                ez: if O > 0 { a.ew[i].0[2] } else { 0.0 },
                w: a.w[i],
            };
            let mut m = 0;
            for (k, seg) in s.segments.iter().enumerate() {
                if let Some(js) = window::<MI>(a, b, seg, &mut s.cursors[k], i, li, r_max2) {
                    m = select_pairs::<MI, O, W, ISA>(ctx, &g, seg.shift, js, &mut s.sel, m);
                }
                if ctx.jackknife && m > 0 {
                    let acc = &mut s.segment_sums[k * stride..(k + 1) * stride];
                    accumulate_pairs::<CROSS, O, W, ISA>(ctx, &g, m, &mut s.sel, acc);
                    m = 0;
                }
            }
            if m > 0 {
                accumulate_pairs::<CROSS, O, W, ISA>(ctx, &g, m, &mut s.sel, &mut copies);
            }
        }
        if ctx.jackknife {
            for (k, seg) in s.segments.iter().enumerate() {
                let sums = fold_copies(&s.segment_sums[k * stride..(k + 1) * stride], nb_bins);
                for (t, v) in out.bins.iter_mut().zip(&sums) {
                    t.add(v);
                }
                add_removed(&mut out.removed, label, &sums);
                if seg.label != label {
                    add_removed(&mut out.removed, seg.label, &sums);
                }
            }
        }
    }
    if !ctx.jackknife {
        out.bins = fold_copies(&copies, nb_bins);
    }
    out
}

/// The partners in segment `seg` of galaxy i, the `li`-th of its cell, that may lie within
/// r_max (triangular segments: only the cell's later galaxies), or None. `cursor` is the
/// segment's z window (lo, hi): the cell's galaxies are visited in z order, so it only moves
/// forward.
#[inline(always)]
fn window<const MI: bool>(
    a: &Prepared,
    b: &Prepared,
    seg: &Segment,
    cursor: &mut (usize, usize),
    i: usize,
    li: usize,
    r_max2: f64,
) -> Option<std::ops::Range<usize>> {
    let (j0, j1) = if MI {
        (if seg.triangular { seg.start + li + 1 } else { seg.start }, seg.end)
    } else {
        let gap = |v: f64, r: [f64; 2]| (r[0] - v).max(v - r[1]).max(0.0);
        let (gx, gy) = (gap(a.x[i], seg.x_range), gap(a.y[i], seg.y_range));
        if gx * gx + gy * gy > r_max2 {
            return None;
        }
        // Partners' z (shifted) within [z - reach, z + reach]; pass 1 selects exactly.
        let z = a.z[i] - seg.shift[2];
        let (lo, hi) = cursor;
        while *lo < seg.end && b.z[*lo] < z - seg.reach_z {
            *lo += 1;
        }
        *hi = (*hi).max(*lo);
        while *hi < seg.end && b.z[*hi] <= z + seg.reach_z {
            *hi += 1;
        }
        (if seg.triangular { seg.start + li + 1 } else { *lo }, *hi)
    };
    (j0 < j1).then_some(j0..j1)
}

/// [`window`] for each galaxy of the cell `own` in turn: calls `f(i, j0..j1)`.
#[inline(always)]
fn windows<const MI: bool>(
    a: &Prepared,
    b: &Prepared,
    seg: &Segment,
    own: std::ops::Range<usize>,
    r_max2: f64,
    mut f: impl FnMut(usize, std::ops::Range<usize>),
) {
    let mut cursor = (seg.start, seg.start);
    for (li, i) in own.enumerate() {
        if let Some(js) = window::<MI>(a, b, seg, &mut cursor, i, li, r_max2) {
            f(i, js);
        }
    }
}

/// The objects of an expectation table ([`crate::expect`]), in the prepared sample's order.
pub(crate) struct Categories<'a> {
    /// Category of each object, below `n_cat`.
    pub cat: &'a [u32],
    /// Host of each object: pairs within one host are left out.
    pub host: &'a [u32],
    /// Each object's host log mass less its category's mean.
    pub x: &'a [f64],
    pub n_cat: usize,
}

/// Marks per ordered category pair and bin: `1, g_ij, h_ij` and the same times `x_i`, plus
/// `x_j g_ij` (see [`count_category_pairs`]).
pub(crate) const CATEGORY_MARKS: usize = 7;

/// Pair sums by category for the two-halo table of [`crate::expect`]: every pair of objects of
/// different hosts with r in (r_min, r_max] adds `w_i w_j (1, g_ij, h_ij, x_i, x_i g_ij,
/// x_j g_ij, x_i h_ij)` to `[cat_i][cat_j][bin]` and the same with i and j swapped to
/// `[cat_j][cat_i][bin]`, with `g_ij = (e_i . rhat_ij)^2 - 1/3` and `h_ij = (e_i . e_j)^2 - 1/3`
/// (unit orientations). Layout: `((cat_i * n_cat + cat_j) * n_bins + bin) * 7 + mark`. The same grid, neighbour
/// segments, z windows and distance selection as [`count_pairs`]; chunks of cells are dealt
/// to the threads in a fixed interleaving and their tables added in order, so the sums depend
/// on the thread count only through rounding. Only the pairs whose first member lies in the
/// `shard`'s chunks are counted (chunk number modulo the shard count; [`Shard::WHOLE`]: all),
/// so the shards of one set of objects add up to the whole. `progress(done, total)` counts
/// the shard's chunks.
pub(crate) fn count_category_pairs(
    plan: &Plan,
    grid: &Grid,
    a: &Prepared,
    c: &Categories,
    shard: Shard,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Vec<f64>> {
    let ctx = Ctx {
        grid,
        a,
        b: a,
        jackknife: false,
        columns: if grid.min_image {
            Vec::new()
        } else {
            grid.columns(plan.r_max(), true)
        },
        lookup: BinLookup::new(&plan.r_edges),
        n_bins: plan.n_bins(),
        r_max: plan.r_max(),
    };
    // Each worker's table holds, per (cat_i, cat_j, bin), the marks of the pairs seen from
    // the first object (i) and those seen from the second (j), side by side, so that all of an
    // object's pairs land in its own category's row (a cache-resident block) rather than the
    // second half in every other row; the halves are crossed over once at the end.
    let len = c.n_cat * c.n_cat * ctx.n_bins * CATEGORY_MARKS;
    let mine: Vec<usize> = (0..grid.n_cells().div_ceil(CHUNK_CELLS)).filter(|&k| shard.takes(k)).collect();
    let n_chunks = mine.len();
    let workers = rayon::current_num_threads().min(n_chunks).max(1);
    crate::memory::ensure(
        &format!("a pair table of {} categories on {workers} threads", c.n_cat),
        (workers * 2 * len * 8) as f64,
    )?;
    let done = AtomicUsize::new(0);
    let tables: Vec<Vec<f64>> = (0..workers)
        .into_par_iter()
        .map(|worker| {
            let mut table = vec![0.0; 2 * len];
            let mut scratch = Scratch::default();
            for &chunk in mine.iter().skip(worker).step_by(workers) {
                let cells = chunk * CHUNK_CELLS..((chunk + 1) * CHUNK_CELLS).min(grid.n_cells());
                if grid.min_image {
                    category_chunk::<true>(&ctx, c, cells, &mut scratch, &mut table);
                } else {
                    category_chunk::<false>(&ctx, c, cells, &mut scratch, &mut table);
                }
                if let Some(p) = progress {
                    p(done.fetch_add(1, Ordering::Relaxed) + 1, n_chunks);
                }
            }
            table
        })
        .collect();
    let mut tables = tables.into_iter();
    let mut both = tables.next().unwrap_or_else(|| vec![0.0; 2 * len]);
    for t in tables {
        for (s, v) in both.iter_mut().zip(&t) {
            *s += v;
        }
    }
    // [cat_i][cat_j][bin]: the pairs seen from i, plus those seen from j in [cat_j][cat_i].
    let (n_cat, block) = (c.n_cat, ctx.n_bins * CATEGORY_MARKS);
    let mut total = vec![0.0; len];
    for ci in 0..n_cat {
        for cj in 0..n_cat {
            let (own, other) = ((ci * n_cat + cj) * 2 * block, (cj * n_cat + ci) * 2 * block);
            for (b, t) in total[(ci * n_cat + cj) * block..(ci * n_cat + cj + 1) * block].chunks_exact_mut(CATEGORY_MARKS).enumerate() {
                for (m, v) in t.iter_mut().enumerate() {
                    *v = both[own + b * 2 * CATEGORY_MARKS + m] + both[other + b * 2 * CATEGORY_MARKS + CATEGORY_MARKS + m];
                }
            }
        }
    }
    Ok(total)
}

/// The pairs of [`count_category_pairs`] with a first member in `cells`.
fn category_chunk<const MI: bool>(
    ctx: &Ctx,
    c: &Categories,
    cells: std::ops::Range<usize>,
    s: &mut Scratch,
    table: &mut [f64],
) {
    let (a, grid, lk, nb, n_cat) = (ctx.a, ctx.grid, &ctx.lookup, ctx.n_bins, c.n_cat);
    let r_max2 = ctx.r_max * ctx.r_max * (1.0 + 1e-9);
    const THIRD: f64 = 1.0 / 3.0;
    for cell in cells {
        let own = a.cell(cell);
        if own.is_empty() {
            continue;
        }
        segments::<false, MI>(ctx, cell, grid.coords(cell), 0, &mut s.segments);
        let longest = s.segments.iter().map(|g| g.end - g.start).max().unwrap_or(0);
        s.sel.reserve(longest);
        let sel = &mut s.sel;
        for seg in &s.segments {
            windows::<MI>(a, a, seg, own.clone(), r_max2, |i, js| {
                let origin = [a.x[i] - seg.shift[0], a.y[i] - seg.shift[1], a.z[i] - seg.shift[2]];
                let m = select::<MI>(
                    &a.x[js.clone()],
                    &a.y[js.clone()],
                    &a.z[js.clone()],
                    origin,
                    grid.box_size,
                    lk,
                    sel,
                );
                let (ci, host, xi) = (c.cat[i] as usize, c.host[i], c.x[i]);
                let e = a.ew[i].0;
                for t in 0..m {
                    let j = js.start + sel.idx[t] as usize;
                    if c.host[j] == host {
                        continue;
                    }
                    let (cj, xj) = (c.cat[j] as usize, c.x[j]);
                    let (r2, d) = (sel.r2[t], [sel.dx[t], sel.dy[t], sel.dz[t]]);
                    let bin = lk.bin(r2);
                    let w = a.w[i] * a.w[j];
                    let f = a.ew[j].0;
                    let pi = e[0] * d[0] + e[1] * d[1] + e[2] * d[2];
                    let pj = f[0] * d[0] + f[1] * d[1] + f[2] * d[2];
                    let cos = e[0] * f[0] + e[1] * f[1] + e[2] * f[2];
                    let h = w * (cos * cos - THIRD);
                    let gi = w * (pi * pi / r2 - THIRD);
                    let gj = w * (pj * pj / r2 - THIRD);
                    // From i (to [cat_i][cat_j]), then from j (to [cat_j][cat_i], kept beside).
                    let o = ((ci * n_cat + cj) * nb + bin) * 2 * CATEGORY_MARKS;
                    let marks = [w, gi, h, xi * w, xi * gi, xj * gi, xi * h, w, gj, h, xj * w, xj * gj, xi * gj, xj * h];
                    for (t, v) in table[o..o + 2 * CATEGORY_MARKS].iter_mut().zip(marks) {
                        *t += v;
                    }
                }
            });
        }
    }
}

/// Sums the COPIES interleaved histograms (each n_bins + 1 slots, the last one padding),
/// copy 0 first.
fn fold_copies(copies: &[BinSums], nb: usize) -> Vec<BinSums> {
    let mut out = copies[..nb].to_vec();
    for c in copies[nb + 1..].chunks_exact(nb + 1) {
        for (t, v) in out.iter_mut().zip(c) {
            t.add(v);
        }
    }
    out
}

fn add_removed(removed: &mut Vec<(usize, Vec<BinSums>)>, label: usize, sums: &[BinSums]) {
    let row = match removed.iter().position(|(l, _)| *l == label) {
        Some(p) => &mut removed[p].1,
        None => {
            removed.push((label, vec![BinSums::default(); sums.len()]));
            &mut removed.last_mut().expect("just pushed").1
        }
    };
    for (t, v) in row.iter_mut().zip(sums) {
        t.add(v);
    }
}

/// Lists the partner segments of `cell`: for auto-correlations the cell itself (triangular),
/// the cells above it in its own column, and the full z range of half of the other columns;
/// for cross every column's full z range.
#[inline(always)]
fn segments<const CROSS: bool, const MI: bool>(
    ctx: &Ctx,
    cell: usize,
    coords: [usize; 3],
    label: usize,
    out: &mut Vec<Segment>,
) {
    let (grid, b) = (ctx.grid, ctx.b);
    let label_of = |c: usize| {
        if ctx.jackknife {
            grid.label(grid.coords(c))
        } else {
            0
        }
    };
    let unbounded = [f64::NEG_INFINITY, f64::INFINITY];
    let widen = |reach: f64| reach * (1.0 + 1e-9) + 1e-12 * ctx.r_max;
    let full_reach = widen(ctx.r_max);
    let segment =
        |r: std::ops::Range<usize>, shift, label, triangular, x_range, y_range, reach_z| Segment {
            start: r.start,
            end: r.end,
            shift,
            label,
            triangular,
            x_range,
            y_range,
            reach_z,
        };
    out.clear();
    if !CROSS {
        out.push(segment(
            b.cell(cell),
            [0.0; 3],
            label,
            true,
            unbounded,
            unbounded,
            full_reach,
        ));
    }
    if MI {
        // Fallback grid: every later cell (auto) or every cell (cross), minimum image per pair.
        let first = if CROSS { 0 } else { cell + 1 };
        for other in first..grid.n_cells() {
            if !b.cell(other).is_empty() {
                out.push(segment(
                    b.cell(other),
                    [0.0; 3],
                    label_of(other),
                    false,
                    unbounded,
                    unbounded,
                    full_reach,
                ));
            }
        }
        return;
    }
    let n = grid.n.map(|v| v as i64);
    let width = grid.width();
    let rz = grid.reach[2] as i64;
    let wrap = |c: i64, d: usize| -> (usize, f64) {
        if c < 0 {
            ((c + n[d]) as usize, -grid.box_size[d])
        } else if c >= n[d] {
            ((c - n[d]) as usize, grid.box_size[d])
        } else {
            (c as usize, 0.0)
        }
    };
    for &[ox, oy] in &ctx.columns {
        let (cx, sx) = wrap(coords[0] as i64 + ox, 0);
        let (cy, sy) = wrap(coords[1] as i64 + oy, 1);
        let x_range = [cx as f64 * width[0] + sx, (cx + 1) as f64 * width[0] + sx];
        let y_range = [cy as f64 * width[1] + sy, (cy + 1) as f64 * width[1] + sy];
        // Pairs with this column are at least the cells' gap apart in (x, y).
        let gap = |o: i64, w: f64| (o.abs() - 1).max(0) as f64 * w;
        let (gx, gy) = (gap(ox, width[0]), gap(oy, width[1]));
        let reach_z = widen((ctx.r_max * ctx.r_max - gx * gx - gy * gy).max(0.0).sqrt());
        // The own column of an auto-correlation: only the cells above (the cell itself is the
        // triangular segment; the cells below pair with this one from their side).
        let z_first = if !CROSS && ox == 0 && oy == 0 { 1 } else { -rz };
        let mut run: Option<Segment> = None;
        for oz in z_first..=rz {
            let (cz, sz) = wrap(coords[2] as i64 + oz, 2);
            let other = grid.index([cx, cy, cz]);
            let (r, l) = (b.cell(other), label_of(other));
            let shift = [sx, sy, sz];
            match &mut run {
                // Cells of one column are adjacent in memory while the shift stays the same.
                Some(s) if s.shift == shift && s.label == l && s.end == r.start => s.end = r.end,
                _ => {
                    if let Some(s) = run.take().filter(|s| s.end > s.start) {
                        out.push(s);
                    }
                    run = Some(segment(r, shift, l, false, x_range, y_range, reach_z));
                }
            }
        }
        if let Some(s) = run.filter(|s| s.end > s.start) {
            out.push(s);
        }
    }
}

struct Galaxy {
    x: f64,
    y: f64,
    z: f64,
    ex: f64,
    ey: f64,
    ez: f64,
    w: f64,
}

/// Minimum image of a coordinate difference in (-L, L).
#[inline(always)]
fn min_image(d: f64, l: f64) -> f64 {
    if d > 0.5 * l {
        d - l
    } else if d < -0.5 * l {
        d + l
    } else {
        d
    }
}

/// Interleaved copies of the per-bin sums in the pair loop (summed in a fixed order after).
const COPIES: usize = 4;

/// Vector width of the AVX-512 pass 1 (f64 lanes); pass-1 buffers carry this much slack.
const LANES: usize = 8;

/// Pass 1: the pairs of galaxy `g` with partners `js` (coordinates + `shift`) that lie in
/// (r_min, r_max], appended to the `m` already in `sel` (branch-free selection); returns the
/// new count.
#[inline(always)]
fn select_pairs<const MI: bool, const O: u8, const W: bool, const ISA: u8>(
    ctx: &Ctx,
    g: &Galaxy,
    shift: [f64; 3],
    js: std::ops::Range<usize>,
    sel: &mut Selected,
    m: usize,
) -> usize {
    let (b, lk) = (ctx.b, &ctx.lookup);
    // The galaxy moved to the partners' frame: d = x_j - (x_i - shift).
    let origin = [g.x - shift[0], g.y - shift[1], g.z - shift[2]];
    let (x, y, z) = (&b.x[js.clone()], &b.y[js.clone()], &b.z[js.clone()]);
    #[cfg(target_arch = "x86_64")]
    if ISA == ISA_AVX512 && !MI {
        // SAFETY: ISA_AVX512 is only instantiated inside functions enabling AVX-512F/VL;
        // `reserve` gave the buffers m + len + LANES slots.
        return unsafe { avx512::select::<O, W>(x, y, z, origin, lk.rmin2, lk.rmax2, sel, js.start, m) };
    } else if ISA == ISA_AVX2 && !MI {
        // SAFETY: ISA_AVX2 is only instantiated inside functions enabling AVX2; `reserve`
        // gave the buffers m + len + LANES slots.
        return unsafe { avx2::select(x, y, z, origin, lk, sel, js.start, m) };
    }
    select_from::<MI>(x, y, z, origin, ctx.grid.box_size, lk, sel, js.start, 0, m)
}

/// Pass 2: the `m` pairs of galaxy `g` in `sel`, added to `acc`. Pair t goes to histogram
/// copy t % COPIES, so that consecutive pairs in one bin do not wait on each other's stores.
/// Each copy has n_bins slots plus one that absorbs the AVX-512 path's padding lanes.
#[inline(always)]
fn accumulate_pairs<const CROSS: bool, const O: u8, const W: bool, const ISA: u8>(
    ctx: &Ctx,
    g: &Galaxy,
    m: usize,
    sel: &mut Selected,
    acc: &mut [BinSums],
) {
    let (b, nb) = (ctx.b, ctx.n_bins);
    #[cfg(target_arch = "x86_64")]
    if ISA == ISA_AVX512 {
        // SAFETY: as for pass 1; partner indices fit the 32-bit gathers (count_pairs checks).
        unsafe { avx512::accumulate::<CROSS, O, W>(g, b, &ctx.lookup, m, sel, acc) };
        return;
    }
    // With AVX2 and oriented partners, whole vectors of four pairs first; the rest below.
    #[cfg(target_arch = "x86_64")]
    let done = if ISA == ISA_AVX2 && O > 1 {
        // SAFETY: ISA_AVX2 is only instantiated inside functions enabling AVX2; partner
        // indices are below b.len(), and b.ew holds b.len() rows when O = 2.
        unsafe { avx2::accumulate::<CROSS, W>(g, b, ctx.lookup.view(), m, sel, acc) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    // Plain slices, read once: the stores into `acc` would otherwise reload them every pair.
    let (idx, r2s, dxs, dys, dzs) = (&sel.idx[..m], &sel.r2[..m], &sel.dx[..m], &sel.dy[..m], &sel.dz[..m]);
    let (bw, bew) = (&b.w[..], &b.ew[..]);
    let lk = ctx.lookup.view();
    for t in done..m {
        let j = idx[t] as usize;
        let r2 = r2s[t];
        let s = &mut acc[(t % COPIES) * (nb + 1) + lk.bin(r2)];
        s.n += 1;
        let wij = if W { g.w * bw[j] } else { 1.0 };
        if W {
            s.w += wij;
        }
        if O > 0 {
            let (dx, dy, dz) = (dxs[t], dys[t], dzs[t]);
            let pi = g.ex * dx + g.ey * dy + g.ez * dz;
            let inv_r2 = 1.0 / r2;
            let omega = if CROSS {
                pi * pi * inv_r2
            } else {
                let pj = bew[j].0[0] * dx + bew[j].0[1] * dy + bew[j].0[2] * dz;
                (pi * pi + pj * pj) * inv_r2
            };
            s.omega += if W { wij * omega } else { omega };
            if O > 1 {
                let c = g.ex * bew[j].0[0] + g.ey * bew[j].0[1] + g.ez * bew[j].0[2];
                s.eta += if W { wij * c * c } else { c * c };
            }
        }
    }
}

/// Portable pass 1: distances then a branch-free compaction.
#[inline(always)]
fn select<const MI: bool>(
    x: &[f64],
    y: &[f64],
    z: &[f64],
    origin: [f64; 3],
    l: [f64; 3],
    lk: &BinLookup,
    sel: &mut Selected,
) -> usize {
    select_from::<MI>(x, y, z, origin, l, lk, sel, 0, 0, 0)
}

/// Pass 1 of the partners from `k0` on, appended to the `m` already selected with indices
/// `base + k`; returns the new count.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn select_from<const MI: bool>(
    x: &[f64],
    y: &[f64],
    z: &[f64],
    origin: [f64; 3],
    l: [f64; 3],
    lk: &BinLookup,
    sel: &mut Selected,
    base: usize,
    k0: usize,
    mut m: usize,
) -> usize {
    for k in k0..x.len() {
        let (mut dx, mut dy, mut dz) = (x[k] - origin[0], y[k] - origin[1], z[k] - origin[2]);
        if MI {
            dx = min_image(dx, l[0]);
            dy = min_image(dy, l[1]);
            dz = min_image(dz, l[2]);
        }
        let r2 = dx * dx + dy * dy + dz * dz;
        sel.idx[m] = (base + k) as u32;
        sel.r2[m] = r2;
        sel.dx[m] = dx;
        sel.dy[m] = dy;
        sel.dz[m] = dz;
        m += (r2 > lk.rmin2 && r2 <= lk.rmax2) as usize;
    }
    m
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BinLookup, BinSums, BinView, Galaxy, Prepared, Selected, COPIES};
    use std::arch::x86_64::*;

    /// Pass 2 with AVX2 for oriented partners (`O = 2`), on the whole vectors of four of the
    /// `m` pairs; returns how many pairs it took (the caller's portable loop does the rest).
    /// Each partner's `[ex, ey, ez, w]` is one 32-byte read, transposed; w_i w_j and the
    /// (weighted) omega and eta terms are the same IEEE operations in the same order as the
    /// portable pass 2 (no FMA), and the four pairs are added to the histograms in pair
    /// order, pair t into copy t % COPIES, as there.
    ///
    /// # Safety
    /// The CPU must support AVX2 (inlined only into functions that enable it); the first `m`
    /// partner indices in `sel` are below `b.len()` and `b.ew` holds `b.len()` rows.
    #[inline(always)]
    pub(super) unsafe fn accumulate<const CROSS: bool, const W: bool>(
        g: &Galaxy,
        b: &Prepared,
        lk: BinView,
        m: usize,
        sel: &Selected,
        acc: &mut [BinSums],
    ) -> usize {
        const _: () = assert!(COPIES == 4, "lane u of a vector of four pairs goes to copy u");
        let nb = lk.e2.len() - 1;
        let (gex, gey, gez, gw) = (
            _mm256_set1_pd(g.ex),
            _mm256_set1_pd(g.ey),
            _mm256_set1_pd(g.ez),
            _mm256_set1_pd(g.w),
        );
        let dot = |ax: __m256d, ay: __m256d, az: __m256d, bx: __m256d, by: __m256d, bz: __m256d| {
            _mm256_add_pd(
                _mm256_add_pd(_mm256_mul_pd(ax, bx), _mm256_mul_pd(ay, by)),
                _mm256_mul_pd(az, bz),
            )
        };
        let (idx, r2s, dxs, dys, dzs) = (&sel.idx[..m], &sel.r2[..m], &sel.dx[..m], &sel.dy[..m], &sel.dz[..m]);
        let ew = b.ew.as_ptr();
        let full = m / 4 * 4;
        let mut t = 0;
        while t < full {
            // SAFETY: t + 4 <= m slots of each buffer; rows of partners below b.len().
            let (omega, eta, wij) = unsafe {
                let row = |u: usize| _mm256_load_pd(ew.add(idx[t + u] as usize).cast());
                let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                // [x0 x1 z0 z1], [y0 y1 w0 w1], and the same for rows 2 and 3.
                let (lo_a, hi_a) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
                let (lo_b, hi_b) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
                let ejx = _mm256_permute2f128_pd::<0x20>(lo_a, lo_b);
                let ejy = _mm256_permute2f128_pd::<0x20>(hi_a, hi_b);
                let ejz = _mm256_permute2f128_pd::<0x31>(lo_a, lo_b);
                let wj = _mm256_permute2f128_pd::<0x31>(hi_a, hi_b);
                let r2 = _mm256_loadu_pd(r2s.as_ptr().add(t));
                let dx = _mm256_loadu_pd(dxs.as_ptr().add(t));
                let dy = _mm256_loadu_pd(dys.as_ptr().add(t));
                let dz = _mm256_loadu_pd(dzs.as_ptr().add(t));
                let wij = _mm256_mul_pd(gw, wj);
                let pi = dot(gex, gey, gez, dx, dy, dz);
                let inv_r2 = _mm256_div_pd(_mm256_set1_pd(1.0), r2);
                let mut omega = if CROSS {
                    _mm256_mul_pd(_mm256_mul_pd(pi, pi), inv_r2)
                } else {
                    let pj = dot(ejx, ejy, ejz, dx, dy, dz);
                    _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(pi, pi), _mm256_mul_pd(pj, pj)), inv_r2)
                };
                let c = dot(gex, gey, gez, ejx, ejy, ejz);
                let mut eta = _mm256_mul_pd(c, c);
                if W {
                    omega = _mm256_mul_pd(wij, omega);
                    eta = _mm256_mul_pd(_mm256_mul_pd(wij, c), c);
                }
                let mut out = [[0.0f64; 4]; 3];
                _mm256_storeu_pd(out[0].as_mut_ptr(), omega);
                _mm256_storeu_pd(out[1].as_mut_ptr(), eta);
                _mm256_storeu_pd(out[2].as_mut_ptr(), wij);
                (out[0], out[1], out[2])
            };
            for u in 0..4 {
                let s = &mut acc[u * (nb + 1) + lk.bin(r2s[t + u])];
                s.n += 1;
                if W {
                    s.w += wij[u];
                }
                s.omega += omega[u];
                s.eta += eta[u];
            }
            t += 4;
        }
        full
    }

    /// For each 4-bit lane mask, the 32-bit lane permutation that moves the selected f64 lanes
    /// to the front in order (the left-packing AVX2 lacks as an instruction).
    const PACK_F64: [[i32; 8]; 16] = {
        let mut t = [[0i32; 8]; 16];
        let mut mask = 0;
        while mask < 16 {
            let mut out = 0;
            let mut lane = 0;
            while lane < 4 {
                if mask >> lane & 1 == 1 {
                    t[mask][2 * out] = 2 * lane as i32;
                    t[mask][2 * out + 1] = 2 * lane as i32 + 1;
                    out += 1;
                }
                lane += 1;
            }
            mask += 1;
        }
        t
    };

    /// Pass 1 with AVX2, four partners at a time: the same IEEE operations as the portable
    /// pass (no FMA), the selected lanes left-packed by a permutation and stored whole (up to
    /// four lanes of slack), so the buffers hold the same values in the same order.
    ///
    /// # Safety
    /// The CPU must support AVX2 (inlined only into functions that enable it); `sel` must
    /// hold `m0 + x.len() + LANES` slots.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn select(
        x: &[f64],
        y: &[f64],
        z: &[f64],
        origin: [f64; 3],
        lk: &BinLookup,
        sel: &mut Selected,
        base: usize,
        m0: usize,
    ) -> usize {
        let n = x.len();
        debug_assert!(y.len() == n && z.len() == n && sel.idx.len() >= m0 + n + super::LANES);
        let o = origin.map(|v| _mm256_set1_pd(v));
        let (lo, hi) = (_mm256_set1_pd(lk.rmin2), _mm256_set1_pd(lk.rmax2));
        let (idx, r2s, dxs, dys, dzs) = sel.pass1_out();
        let mut m = m0;
        let mut k = 0usize;
        // SAFETY (whole loop): loads read lanes k..k + 4 <= n; stores write m..m + 4 with
        // m <= m0 + k, inside the m0 + n + LANES slots.
        unsafe {
            while k + 4 <= n {
                let dx = _mm256_sub_pd(_mm256_loadu_pd(x.as_ptr().add(k)), o[0]);
                let dy = _mm256_sub_pd(_mm256_loadu_pd(y.as_ptr().add(k)), o[1]);
                let dz = _mm256_sub_pd(_mm256_loadu_pd(z.as_ptr().add(k)), o[2]);
                let r2 = _mm256_add_pd(
                    _mm256_add_pd(_mm256_mul_pd(dx, dx), _mm256_mul_pd(dy, dy)),
                    _mm256_mul_pd(dz, dz),
                );
                let keep = _mm256_movemask_pd(_mm256_and_pd(
                    _mm256_cmp_pd::<_CMP_GT_OQ>(r2, lo),
                    _mm256_cmp_pd::<_CMP_LE_OQ>(r2, hi),
                )) as usize;
                // Stored whether or not any lane was selected (then none counts): a branch on
                // `keep` follows the data and is mispredicted often.
                let perm = _mm256_loadu_si256(PACK_F64[keep].as_ptr().cast());
                let pack = |v: __m256d| {
                    _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), perm))
                };
                _mm256_storeu_pd(r2s.add(m), pack(r2));
                _mm256_storeu_pd(dxs.add(m), pack(dx));
                _mm256_storeu_pd(dys.add(m), pack(dy));
                _mm256_storeu_pd(dzs.add(m), pack(dz));
                // Indices: the lanes' partners packed the same way (even 32-bit lanes).
                let j = (base + k) as i32;
                let ids = _mm256_permutevar8x32_epi32(
                    _mm256_setr_epi32(j, 0, j + 1, 0, j + 2, 0, j + 3, 0),
                    perm,
                );
                let ids = _mm256_permutevar8x32_epi32(ids, _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0));
                _mm_storeu_si128(idx.add(m).cast(), _mm256_castsi256_si128(ids));
                m += keep.count_ones() as usize;
                k += 4;
            }
        }
        // The last few partners as the portable pass does them.
        super::select_from::<false>(x, y, z, origin, [0.0; 3], lk, sel, base, k, m)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Aligned4, BinLookup, BinSums, Galaxy, Prepared, Selected, COPIES, LANES, THRESHOLD_BITS};
    use std::arch::x86_64::*;

    /// Pass 1 with AVX-512: the same IEEE operations as the portable pass (no FMA), the
    /// selected lanes compressed in registers and stored whole (up to LANES of slack): r^2,
    /// and the partners' indices and separations when pass 2 needs them (orientations `O > 0`
    /// or weights `W`).
    ///
    /// # Safety
    /// The CPU must support AVX-512F/VL (inlined only into functions that enable them);
    /// `sel` must hold `m0 + x.len() + LANES` slots; `base + x.len()` below 2^31.
    #[inline(always)]
    pub(super) unsafe fn select<const O: u8, const W: bool>(
        x: &[f64],
        y: &[f64],
        z: &[f64],
        origin: [f64; 3],
        rmin2: f64,
        rmax2: f64,
        sel: &mut Selected,
        base: usize,
        m0: usize,
    ) -> usize {
        let n = x.len();
        debug_assert!(y.len() == n && z.len() == n && sel.idx.len() >= m0 + n + LANES);
        let o = origin.map(|v| _mm512_set1_pd(v));
        let (lo, hi) = (_mm512_set1_pd(rmin2), _mm512_set1_pd(rmax2));
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let (idx, r2s, dxs, dys, dzs) = sel.pass1_out();
        let mut m = m0;
        let mut k = 0usize;
        while k < n {
            let valid: __mmask8 = if n - k >= LANES {
                0xff
            } else {
                (1u8 << (n - k)) - 1
            };
            // SAFETY: masked loads touch only lanes k..n.
            let (px, py, pz) = unsafe {
                (
                    _mm512_maskz_loadu_pd(valid, x.as_ptr().add(k)),
                    _mm512_maskz_loadu_pd(valid, y.as_ptr().add(k)),
                    _mm512_maskz_loadu_pd(valid, z.as_ptr().add(k)),
                )
            };
            let dx = _mm512_sub_pd(px, o[0]);
            let dy = _mm512_sub_pd(py, o[1]);
            let dz = _mm512_sub_pd(pz, o[2]);
            let r2 = _mm512_add_pd(
                _mm512_add_pd(_mm512_mul_pd(dx, dx), _mm512_mul_pd(dy, dy)),
                _mm512_mul_pd(dz, dz),
            );
            let keep = valid
                & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(r2, lo)
                & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(r2, hi);
            // Stored whether or not any lane was selected (then none counts): a branch on
            // `keep` follows the data and is mispredicted often.
            // SAFETY: m + LANES <= m0 + n + LANES slots.
            unsafe {
                _mm512_storeu_pd(r2s.add(m), _mm512_maskz_compress_pd(keep, r2));
                if O > 0 || W {
                    let ids = _mm256_add_epi32(lanes, _mm256_set1_epi32((base + k) as i32));
                    _mm256_storeu_si256(
                        idx.add(m).cast(),
                        _mm256_maskz_compress_epi32(keep, ids),
                    );
                }
                if O > 0 {
                    _mm512_storeu_pd(dxs.add(m), _mm512_maskz_compress_pd(keep, dx));
                    _mm512_storeu_pd(dys.add(m), _mm512_maskz_compress_pd(keep, dy));
                    _mm512_storeu_pd(dzs.add(m), _mm512_maskz_compress_pd(keep, dz));
                }
            }
            m += keep.count_ones() as usize;
            k += LANES;
        }
        m
    }

    /// The `[ex, ey, ez, w]` of the partners `idx[0..8]` as four vectors: one 32-byte read per
    /// partner, then a transpose (cheaper than four gathers). Lanes from `n` on read partner 0.
    ///
    /// # Safety
    /// AVX-512F; `idx` holds 8 readable slots, the first `min(n, 8)` below `ew`'s length, which
    /// is not empty.
    #[inline(always)]
    unsafe fn partners(ew: *const Aligned4, idx: *const u32, n: usize) -> [__m512d; 4] {
        // SAFETY: as the caller promises.
        unsafe {
            let row = |u: usize| {
                // Read unconditionally (a select, not a branch), then padding lanes take 0.
                let j = *idx.add(u) as usize;
                let j = if u < n { j } else { 0 };
                _mm256_load_pd(ew.add(j).cast())
            };
            let two = |u: usize| _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(row(u)), row(u + 1));
            let (p01, p23, p45, p67) = (two(0), two(2), two(4), two(6));
            // [x0 x2 z0 z2 x1 x3 z1 z3] and [y0 y2 w0 w2 y1 y3 w1 w3], and the same for 4..8.
            let (lo_a, hi_a) = (_mm512_unpacklo_pd(p01, p23), _mm512_unpackhi_pd(p01, p23));
            let (lo_b, hi_b) = (_mm512_unpacklo_pd(p45, p67), _mm512_unpackhi_pd(p45, p67));
            let even = _mm512_setr_epi64(0, 4, 1, 5, 8, 12, 9, 13);
            let odd = _mm512_setr_epi64(2, 6, 3, 7, 10, 14, 11, 15);
            [
                _mm512_permutex2var_pd(lo_a, even, lo_b),
                _mm512_permutex2var_pd(hi_a, even, hi_b),
                _mm512_permutex2var_pd(lo_a, odd, lo_b),
                _mm512_permutex2var_pd(hi_a, odd, hi_b),
            ]
        }
    }

    /// Pass 2 with AVX-512, eight pairs at a time: the bin (by binade, from tables held in
    /// registers; else one table gather and one integer comparison), the partners'
    /// orientations and weights ([`partners`]), w_i w_j, and the (weighted) omega and eta
    /// terms, with the same IEEE operations in the same order as the portable pass 2; then the
    /// eight pairs are added to the histograms in pair order, pair t into copy t % COPIES,
    /// padding lanes into the spare slot (a fixed trip count: no mispredicted loop exit).
    ///
    /// # Safety
    /// As [`select`]; `m <= sel.idx.len() - LANES` selected pairs; partner indices below 2^31.
    #[inline(always)]
    pub(super) unsafe fn accumulate<const CROSS: bool, const O: u8, const W: bool>(
        g: &Galaxy,
        b: &Prepared,
        lk: &BinLookup,
        m: usize,
        sel: &mut Selected,
        acc: &mut [BinSums],
    ) {
        let nb = lk.e2.len() - 1;
        let spare = _mm256_set1_epi32(nb as i32);
        let shift = _mm512_set1_epi64(lk.shift as i64);
        let base = _mm512_set1_epi64(lk.base as i64);
        let one = _mm512_set1_epi64(1);
        let low_mask = _mm512_set1_epi64(((1u64 << lk.shift) - 1) as i64);
        let threshold_mask = _mm512_set1_epi64(((1u64 << THRESHOLD_BITS) - 1) as i64);
        let (gex, gey, gez, gw) = (
            _mm512_set1_pd(g.ex),
            _mm512_set1_pd(g.ey),
            _mm512_set1_pd(g.ez),
            _mm512_set1_pd(g.w),
        );
        let table = lk.table.as_ptr().cast::<i64>();
        // The binade lookup's tables, 16 entries in two registers each.
        let halves = |p: *const f64| unsafe { (_mm512_loadu_pd(p), _mm512_loadu_pd(p.add(8))) };
        let binades = lk.binades.as_ref().map(|bd| {
            (
                _mm512_set1_epi64(bd.exp0 as i64),
                halves(bd.first.as_ptr().cast()),
                halves(bd.next1.as_ptr()),
                halves(bd.next2.as_ptr()),
            )
        });
        let (idx, r2s, dxs, dys, dzs) = (
            sel.idx.as_ptr(),
            sel.r2.as_ptr(),
            sel.dx.as_ptr(),
            sel.dy.as_ptr(),
            sel.dz.as_ptr(),
        );
        let (bins, ws, omegas, etas) = (
            sel.bin.as_mut_ptr(),
            sel.w.as_mut_ptr(),
            sel.omega.as_mut_ptr(),
            sel.eta.as_mut_ptr(),
        );
        let mut t = 0usize;
        while t < m {
            let valid: __mmask8 = if m - t >= LANES {
                0xff
            } else {
                (1u8 << (m - t)) - 1
            };
            // SAFETY (whole block): buffers hold m + LANES slots; gathers read only valid lanes
            // at indices inside the arrays (bins < n_bins, table keys < table.len() - 1,
            // partner indices < b.len()); `partners` reads the rows of those partners and
            // row 0 for padding lanes, in `b.ew`, which holds b.len() rows when O = 2.
            unsafe {
                let r2 = _mm512_loadu_pd(r2s.add(t));
                let bin = if let Some((exp0, first, next1, next2)) = binades {
                    // Binade k of r2 (padding lanes: any k; a permute reads only its low bits).
                    let bits = _mm512_castpd_si512(r2);
                    let k = _mm512_sub_epi64(_mm512_srli_epi64::<52>(bits), exp0);
                    let bin = _mm512_castpd_si512(_mm512_permutex2var_pd(first.0, k, first.1));
                    let above1 = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(r2, _mm512_permutex2var_pd(next1.0, k, next1.1));
                    let above2 = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(r2, _mm512_permutex2var_pd(next2.0, k, next2.1));
                    let bin = _mm512_mask_add_epi64(bin, above1, bin, one);
                    _mm512_cvtepi64_epi32(_mm512_mask_add_epi64(bin, above2, bin, one))
                } else if lk.single_edge {
                    let bits = _mm512_castpd_si512(r2);
                    let key = _mm512_sub_epi64(_mm512_srlv_epi64(bits, shift), base);
                    let entry =
                        _mm512_mask_i64gather_epi64::<8>(_mm512_setzero_si512(), valid, key, table);
                    let first = _mm512_srli_epi64::<48>(entry);
                    let above = _mm512_mask_cmpgt_epu64_mask(
                        valid,
                        _mm512_and_si512(bits, low_mask),
                        _mm512_and_si512(entry, threshold_mask),
                    );
                    _mm512_cvtepi64_epi32(_mm512_mask_add_epi64(first, above, first, one))
                } else {
                    for u in t..(t + LANES).min(m) {
                        *bins.add(u) = lk.bin(*r2s.add(u)) as u32;
                    }
                    _mm256_loadu_si256(bins.add(t).cast())
                };
                _mm256_storeu_si256(bins.add(t).cast(), _mm256_mask_mov_epi32(spare, valid, bin));
                // O = 2: the partners are oriented too (an auto-correlation's always are).
                let [ejx, ejy, ejz, wj] = if O > 1 {
                    partners(b.ew.as_ptr(), idx.add(t), m - t)
                } else {
                    [_mm512_setzero_pd(); 4]
                };
                let wij = if W {
                    let wj = if O > 1 {
                        wj
                    } else {
                        let j = _mm256_loadu_si256(idx.add(t).cast());
                        _mm512_mask_i32gather_pd::<8>(_mm512_setzero_pd(), valid, j, b.w.as_ptr().cast())
                    };
                    let wij = _mm512_mul_pd(gw, wj);
                    _mm512_storeu_pd(ws.add(t), wij);
                    wij
                } else {
                    _mm512_setzero_pd()
                };
                if O > 0 {
                    let dx = _mm512_loadu_pd(dxs.add(t));
                    let dy = _mm512_loadu_pd(dys.add(t));
                    let dz = _mm512_loadu_pd(dzs.add(t));
                    let dot = |ax: __m512d,
                               ay: __m512d,
                               az: __m512d,
                               bx: __m512d,
                               by: __m512d,
                               bz: __m512d| {
                        _mm512_add_pd(
                            _mm512_add_pd(_mm512_mul_pd(ax, bx), _mm512_mul_pd(ay, by)),
                            _mm512_mul_pd(az, bz),
                        )
                    };
                    let pi = dot(gex, gey, gez, dx, dy, dz);
                    let inv_r2 = _mm512_div_pd(_mm512_set1_pd(1.0), r2);
                    let mut omega = if CROSS {
                        _mm512_mul_pd(_mm512_mul_pd(pi, pi), inv_r2)
                    } else {
                        let pj = dot(ejx, ejy, ejz, dx, dy, dz);
                        _mm512_mul_pd(
                            _mm512_add_pd(_mm512_mul_pd(pi, pi), _mm512_mul_pd(pj, pj)),
                            inv_r2,
                        )
                    };
                    if W {
                        omega = _mm512_mul_pd(wij, omega);
                    }
                    _mm512_storeu_pd(omegas.add(t), omega);
                    if O > 1 {
                        let c = dot(gex, gey, gez, ejx, ejy, ejz);
                        let eta = if W {
                            _mm512_mul_pd(_mm512_mul_pd(wij, c), c)
                        } else {
                            _mm512_mul_pd(c, c)
                        };
                        _mm512_storeu_pd(etas.add(t), eta);
                    }
                }
                for u in 0..LANES {
                    let s = &mut acc[(u % COPIES) * (nb + 1) + *bins.add(t + u) as usize];
                    s.n += 1;
                    if W {
                        s.w += *ws.add(t + u);
                    }
                    if O > 0 {
                        s.omega += *omegas.add(t + u);
                    }
                    if O > 1 {
                        s.eta += *etas.add(t + u);
                    }
                }
            }
            t += LANES;
        }
    }
}
