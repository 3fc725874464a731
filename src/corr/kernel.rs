//! The pair-counting kernel.
//!
//! For each cell, the galaxies of its neighbour cells (half of the stencil for
//! auto-correlations, all of it for cross) are gathered into one contiguous, shifted buffer;
//! then each galaxy of the cell runs two tight loops over that buffer: distances and a
//! branch-free selection of the pairs inside (r_min, r_max], then the three statistics and
//! the bin of each selected pair. The kernel is compiled for the baseline CPU and for
//! AVX2/AVX-512, and the best one the CPU supports is picked at run time; all variants do the
//! same IEEE operations in the same order, so results do not depend on the pick.

use super::grid::{Grid, Prepared};
use super::{BinSums, PairTotals, Plan};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Cells per parallel work item. Fixed, so that partial sums are added in the same order for
/// any thread count.
const CHUNK_CELLS: usize = 16;

/// Maps a squared separation to its bin with a table indexed by the top bits of the f64
/// representation (a piecewise-logarithmic index), then at most a few comparisons.
pub(crate) struct BinLookup {
    /// Squared bin edges.
    e2: Vec<f64>,
    rmin2: f64,
    rmax2: f64,
    shift: u32,
    base: u64,
    table: Vec<u16>,
}

impl BinLookup {
    pub fn new(r_edges: &[f64]) -> BinLookup {
        let e2: Vec<f64> = r_edges.iter().map(|r| r * r).collect();
        let (rmin2, rmax2) = (e2[0], e2[e2.len() - 1]);
        // 8 mantissa bits: table cells 0.27% wide in r^2; fewer bits if the range is huge.
        let mut mantissa_bits = 8u32;
        let table_len = |bits: u32| {
            let s = 52 - bits;
            ((rmax2.to_bits() >> s) - (rmin2.to_bits() >> s) + 1) as usize
        };
        while mantissa_bits > 0 && table_len(mantissa_bits) > 1 << 16 {
            mantissa_bits -= 1;
        }
        let shift = 52 - mantissa_bits;
        let base = rmin2.to_bits() >> shift;
        let nb = e2.len() - 1;
        let table = (0..table_len(mantissa_bits) as u64)
            .map(|key| {
                let lo = f64::from_bits((key + base) << shift);
                // Largest k with e2[k] < lo: every r2 of this table cell lies in bin >= k.
                let k = e2.iter().take(nb).rposition(|&e| e < lo).unwrap_or(0);
                k as u16
            })
            .collect();
        BinLookup { e2, rmin2, rmax2, shift, base, table }
    }

    /// Bin of `r2`, which must lie in (rmin2, rmax2].
    #[inline(always)]
    fn bin(&self, r2: f64) -> usize {
        let key = ((r2.to_bits() >> self.shift) - self.base) as usize;
        let mut b = self.table[key] as usize;
        while r2 > self.e2[b + 1] {
            b += 1;
        }
        b
    }
}

/// Neighbour galaxies of one cell, shifted to the cell's periodic image, in segments of one
/// jackknife label each.
#[derive(Default)]
struct Neighbours {
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    ex: Vec<f64>,
    ey: Vec<f64>,
    ez: Vec<f64>,
    w: Vec<f64>,
    segments: Vec<Segment>,
}

#[derive(Clone, Copy)]
struct Segment {
    label: usize,
    start: usize,
    end: usize,
    /// The cell's own galaxies (auto-correlation): galaxy i pairs only with later ones.
    triangular: bool,
}

impl Neighbours {
    fn clear(&mut self) {
        for v in [&mut self.x, &mut self.y, &mut self.z, &mut self.ex, &mut self.ey, &mut self.ez, &mut self.w] {
            v.clear();
        }
        self.segments.clear();
    }

    fn push_cell(&mut self, b: &Prepared, cell: usize, shift: [f64; 3]) {
        let r = b.cell(cell);
        self.x.extend(b.x[r.clone()].iter().map(|v| v + shift[0]));
        self.y.extend(b.y[r.clone()].iter().map(|v| v + shift[1]));
        self.z.extend(b.z[r.clone()].iter().map(|v| v + shift[2]));
        if b.oriented {
            self.ex.extend_from_slice(&b.ex[r.clone()]);
            self.ey.extend_from_slice(&b.ey[r.clone()]);
            self.ez.extend_from_slice(&b.ez[r.clone()]);
        }
        self.w.extend_from_slice(&b.w[r]);
    }

    fn close_segment(&mut self, label: usize, triangular: bool) {
        let start = self.segments.last().map_or(0, |s| s.end);
        if self.x.len() > start {
            self.segments.push(Segment { label, start, end: self.x.len(), triangular });
        }
    }
}

/// Read-only state shared by all work items.
struct Ctx<'a> {
    grid: &'a Grid,
    a: &'a Prepared,
    b: &'a Prepared,
    jackknife: bool,
    stencil: Vec<[i64; 3]>,
    lookup: BinLookup,
    n_bins: usize,
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
    let ctx = Ctx {
        grid,
        a,
        b,
        jackknife: plan.jackknife.is_some(),
        stencil: if grid.min_image { Vec::new() } else { grid.stencil(plan.r_max(), !cross) },
        lookup: BinLookup::new(&plan.r_edges),
        n_bins: plan.n_bins(),
    };
    let orient = match (a.oriented, b.oriented) {
        (false, _) => 0u8,
        (true, false) => 1,
        (true, true) => 2,
    };
    let weighted = a.weighted || b.weighted;
    let kernel = select_kernel(cross, orient, weighted, grid.min_image);
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
    let n_sub = if ctx.jackknife { grid.jk_side.pow(3) } else { 0 };
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

#[derive(Default)]
struct Scratch {
    nb: Neighbours,
    idx: Vec<u32>,
    r2: Vec<f64>,
    segment_sums: Vec<BinSums>,
    /// Neighbour cells with their shift and label, before grouping by label.
    cells: Vec<(usize, usize, [f64; 3])>,
}

type KernelFn = fn(&Ctx, std::ops::Range<usize>, &mut Scratch) -> ChunkSums;

/// Picks the monomorphised kernel for this sample kind and the best instruction set.
fn select_kernel(cross: bool, orient: u8, weighted: bool, min_image: bool) -> KernelFn {
    macro_rules! pick {
        ($($c:literal, $o:literal, $w:literal, $m:literal;)*) => {
            match (cross, orient, weighted, min_image) {
                $(($c, $o, $w, $m) => isa::best::<$c, $o, $w, $m>(),)*
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
    use super::{chunk_sums, ChunkSums, Ctx, KernelFn, Scratch};
    use std::ops::Range;

    fn baseline<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        chunk_sums::<C, O, W, M>(ctx, cells, s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_impl<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        chunk_sums::<C, O, W, M>(ctx, cells, s)
    }

    #[cfg(target_arch = "x86_64")]
    fn avx2<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        // SAFETY: only selected by `best` after the CPU reported AVX2 and FMA.
        unsafe { avx2_impl::<C, O, W, M>(ctx, cells, s) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    unsafe fn avx512_impl<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        chunk_sums::<C, O, W, M>(ctx, cells, s)
    }

    #[cfg(target_arch = "x86_64")]
    fn avx512<const C: bool, const O: u8, const W: bool, const M: bool>(
        ctx: &Ctx,
        cells: Range<usize>,
        s: &mut Scratch,
    ) -> ChunkSums {
        // SAFETY: only selected by `best` after the CPU reported AVX-512F/VL, AVX2 and FMA.
        unsafe { avx512_impl::<C, O, W, M>(ctx, cells, s) }
    }

    /// The widest variant this CPU runs; `IAEMU_ISA=baseline|avx2|avx512` caps it (for
    /// benchmarks and tests).
    pub(super) fn best<const C: bool, const O: u8, const W: bool, const M: bool>() -> KernelFn {
        let cap = std::env::var("IAEMU_ISA").unwrap_or_default();
        #[cfg(target_arch = "x86_64")]
        {
            let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            let has_avx512 = fma
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl");
            if has_avx512 && (cap.is_empty() || cap == "avx512") {
                return avx512::<C, O, W, M>;
            }
            if fma && cap != "baseline" {
                return avx2::<C, O, W, M>;
            }
        }
        let _ = cap;
        baseline::<C, O, W, M>
    }
}

/// All pairs with a first member in `cells`.
#[inline(always)]
fn chunk_sums<const CROSS: bool, const O: u8, const W: bool, const MI: bool>(
    ctx: &Ctx,
    cells: std::ops::Range<usize>,
    s: &mut Scratch,
) -> ChunkSums {
    let nb_bins = ctx.n_bins;
    let mut out = ChunkSums { bins: vec![BinSums::default(); nb_bins], removed: Vec::new() };
    let (a, grid) = (ctx.a, ctx.grid);
    for cell in cells {
        let own = a.cell(cell);
        if own.is_empty() {
            continue;
        }
        let coords = grid.coords(cell);
        let label = if ctx.jackknife { grid.label(coords) } else { 0 };
        gather::<CROSS, MI>(ctx, cell, coords, label, &mut s.nb, &mut s.cells);
        let n_seg = s.nb.segments.len();
        if ctx.jackknife {
            s.segment_sums.clear();
            s.segment_sums.resize(n_seg * nb_bins, BinSums::default());
        }
        let len = s.nb.x.len();
        if s.idx.len() < len {
            s.idx.resize(len, 0);
            s.r2.resize(len, 0.0);
        }
        for (li, i) in own.clone().enumerate() {
            let gi = Galaxy {
                x: a.x[i],
                y: a.y[i],
                z: a.z[i],
                ex: if O > 0 { a.ex[i] } else { 0.0 },
                ey: if O > 0 { a.ey[i] } else { 0.0 },
                ez: if O > 0 { a.ez[i] } else { 0.0 },
                w: a.w[i],
            };
            for (k, seg) in s.nb.segments.iter().enumerate() {
                let start = if seg.triangular { seg.start + li + 1 } else { seg.start };
                let acc = if ctx.jackknife {
                    &mut s.segment_sums[k * nb_bins..(k + 1) * nb_bins]
                } else {
                    &mut out.bins[..]
                };
                pairs_with::<CROSS, O, W, MI>(
                    ctx, &gi, &s.nb, start, seg.end, &mut s.idx, &mut s.r2, acc,
                );
            }
        }
        if ctx.jackknife {
            for (k, seg) in s.nb.segments.iter().enumerate() {
                let sums = &s.segment_sums[k * nb_bins..(k + 1) * nb_bins];
                for (t, v) in out.bins.iter_mut().zip(sums) {
                    t.add(v);
                }
                add_removed(&mut out.removed, label, sums);
                if seg.label != label {
                    add_removed(&mut out.removed, seg.label, sums);
                }
            }
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

/// Fills `nb` with the partners of `cell`'s galaxies: for auto-correlations the cell itself
/// (triangular) and half of the stencil; for cross all of it.
#[inline(always)]
fn gather<const CROSS: bool, const MI: bool>(
    ctx: &Ctx,
    cell: usize,
    coords: [usize; 3],
    label: usize,
    nb: &mut Neighbours,
    cells: &mut Vec<(usize, usize, [f64; 3])>,
) {
    let grid = ctx.grid;
    nb.clear();
    if !CROSS {
        nb.push_cell(ctx.a, cell, [0.0; 3]);
        nb.close_segment(label, true);
    }
    cells.clear();
    if MI {
        // Fallback grid: every later cell (auto) or every cell (cross), minimum image per pair.
        let first = if CROSS { 0 } else { cell + 1 };
        for other in first..grid.n_cells() {
            let l = if ctx.jackknife { grid.label(grid.coords(other)) } else { 0 };
            cells.push((l, other, [0.0; 3]));
        }
    } else {
        for o in &ctx.stencil {
            let mut nc = [0usize; 3];
            let mut shift = [0.0; 3];
            for d in 0..3 {
                let n = grid.n[d] as i64;
                let mut c = coords[d] as i64 + o[d];
                if c < 0 {
                    c += n;
                    shift[d] = -grid.box_size[d];
                } else if c >= n {
                    c -= n;
                    shift[d] = grid.box_size[d];
                }
                nc[d] = c as usize;
            }
            let l = if ctx.jackknife { grid.label(nc) } else { 0 };
            cells.push((l, grid.index(nc), shift));
        }
    }
    if ctx.jackknife {
        cells.sort_by_key(|c| c.0);
    }
    let mut current = None;
    for &(l, other, shift) in cells.iter() {
        if current.is_some_and(|c| c != l) {
            nb.close_segment(current.unwrap_or(0), false);
        }
        current = Some(l);
        nb.push_cell(ctx.b, other, shift);
    }
    if let Some(l) = current {
        nb.close_segment(l, false);
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

/// Pairs of galaxy `g` with neighbours `j0..j1`, added to `acc`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pairs_with<const CROSS: bool, const O: u8, const W: bool, const MI: bool>(
    ctx: &Ctx,
    g: &Galaxy,
    nb: &Neighbours,
    j0: usize,
    j1: usize,
    idx: &mut [u32],
    r2buf: &mut [f64],
    acc: &mut [BinSums],
) {
    if j0 >= j1 {
        return;
    }
    let lk = &ctx.lookup;
    let l = ctx.grid.box_size;
    let delta = |j: usize| {
        let (mut dx, mut dy, mut dz) = (nb.x[j] - g.x, nb.y[j] - g.y, nb.z[j] - g.z);
        if MI {
            dx = min_image(dx, l[0]);
            dy = min_image(dy, l[1]);
            dz = min_image(dz, l[2]);
        }
        (dx, dy, dz)
    };
    // Pass 1: distances, branch-free selection of the pairs inside (r_min, r_max].
    let (x, y, z) = (&nb.x[j0..j1], &nb.y[j0..j1], &nb.z[j0..j1]);
    let r2s = &mut r2buf[..j1 - j0];
    for (k, r2) in r2s.iter_mut().enumerate() {
        let (mut dx, mut dy, mut dz) = (x[k] - g.x, y[k] - g.y, z[k] - g.z);
        if MI {
            dx = min_image(dx, l[0]);
            dy = min_image(dy, l[1]);
            dz = min_image(dz, l[2]);
        }
        *r2 = dx * dx + dy * dy + dz * dz;
    }
    let mut m = 0usize;
    for (k, &r2) in r2s.iter().enumerate() {
        idx[m] = k as u32;
        m += (r2 > lk.rmin2 && r2 <= lk.rmax2) as usize;
    }
    // Pass 2: the selected pairs.
    for &k in &idx[..m] {
        let k = k as usize;
        let j = j0 + k;
        let r2 = r2s[k];
        let s = &mut acc[lk.bin(r2)];
        s.n += 1;
        let wij = if W { g.w * nb.w[j] } else { 1.0 };
        if W {
            s.w += wij;
        }
        if O > 0 {
            let (dx, dy, dz) = delta(j);
            let pi = g.ex * dx + g.ey * dy + g.ez * dz;
            let inv_r2 = 1.0 / r2;
            let omega = if CROSS {
                pi * pi * inv_r2
            } else {
                let pj = nb.ex[j] * dx + nb.ey[j] * dy + nb.ez[j] * dz;
                (pi * pi + pj * pj) * inv_r2
            };
            s.omega += if W { wij * omega } else { omega };
            if O > 1 {
                let c = g.ex * nb.ex[j] + g.ey * nb.ey[j] + g.ez * nb.ez[j];
                s.eta += if W { wij * c * c } else { c * c };
            }
        }
    }
}
