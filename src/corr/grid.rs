//! The cell grid: galaxies sorted by cell (and by z within a cell), and the choice of cell
//! size.
//!
//! Cell width adapts to the density of the partners: the kernel pays per (galaxy, column) visit
//! and per candidate partner, so cells are sized for about `PARTNERS_PER_WINDOW` partners in
//! a column's z window (2 r_max tall), with between `1/MAX_REFINE` and `1/MIN_REFINE` r_max
//! per cell (measured on Corrfunc's gals_Mr19 at three densities). The pairs of a cell lie
//! within `reach` cells of it. Periodic neighbours are reached by shifting coordinates by
//! a box length, never by a per-pair minimum image, which requires at least `2 reach + 1`
//! cells per side (else one cell would be met twice). When no grid fits (a box barely larger
//! than 2 r_max), the grid is coarse and every pair takes the minimum image instead.
//! With a jackknife the cells per side are a multiple of the sub-volumes per side, so every
//! cell lies inside one sub-volume.

use super::{Galaxies, Plan};

/// Partners a column's z window should hold on average.
const PARTNERS_PER_WINDOW: f64 = 34.0;
/// Bounds of the cells per r_max (Corrfunc's bin refine factor).
const MIN_REFINE: f64 = 0.6;
const MAX_REFINE: f64 = 2.0;

/// At most this many cells per galaxy (keeps sparse samples in big boxes cheap).
const MAX_CELLS_PER_GALAXY: usize = 2;

pub(crate) struct Grid {
    /// Cells per side.
    pub n: [usize; 3],
    /// Cells a pair may span per side.
    pub reach: [usize; 3],
    pub box_size: [f64; 3],
    /// Pairs take the minimum image (fallback grid).
    pub min_image: bool,
    /// Jackknife sub-volumes per side (1 without a jackknife).
    pub jk_side: usize,
}

fn reach_of(r_max: f64, l: f64, n: usize) -> usize {
    // The margin guards a pair whose cell indices were rounded apart.
    ((r_max * n as f64 / l) * (1.0 + 1e-9)).ceil().max(1.0) as usize
}

impl Grid {
    /// `n_partners` galaxies are paired with (sample 2 of a cross-correlation);
    /// `n_galaxies` in all.
    pub fn choose(
        box_size: [f64; 3],
        r_max: f64,
        n_partners: usize,
        n_galaxies: usize,
        jk_side: usize,
    ) -> Grid {
        let density = n_partners as f64 / box_size.iter().product::<f64>();
        // Column width s with density * s^2 * 2 r_max = PARTNERS_PER_WINDOW.
        let refine = (r_max * (density * 2.0 * r_max / PARTNERS_PER_WINDOW).sqrt())
            .clamp(MIN_REFINE, MAX_REFINE);
        let mut target = box_size.map(|l| ((l * refine / r_max).floor() as usize).max(1));
        let cap = (MAX_CELLS_PER_GALAXY * n_galaxies).max(64) as f64;
        let total: f64 = target.iter().map(|&t| t as f64).product();
        if total > cap {
            let f = (cap / total).cbrt();
            target = target.map(|t| ((t as f64 * f).floor() as usize).max(1));
        }
        let mut n = [0; 3];
        let mut reach = [0; 3];
        for d in 0..3 {
            // Smallest multiple of jk_side at or above the target that avoids aliasing.
            let first = target[d].div_ceil(jk_side) * jk_side;
            let limit = (4 * target[d]).max(8 * jk_side).max(64).max(first);
            let found = (first..=limit).step_by(jk_side).find(|&c| {
                let r = reach_of(r_max, box_size[d], c);
                c > 2 * r
            });
            match found {
                Some(c) => {
                    n[d] = c;
                    reach[d] = reach_of(r_max, box_size[d], c);
                }
                None => {
                    return Grid {
                        n: [jk_side; 3],
                        reach: [0; 3],
                        box_size,
                        min_image: true,
                        jk_side,
                    }
                }
            }
        }
        Grid {
            n,
            reach,
            box_size,
            min_image: false,
            jk_side,
        }
    }

    pub fn n_cells(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }

    /// Cell coordinates of a (wrapped) position.
    #[inline]
    fn cell_coords(&self, p: [f64; 3]) -> [usize; 3] {
        std::array::from_fn(|d| {
            (((p[d] / self.box_size[d]) * self.n[d] as f64) as usize).min(self.n[d] - 1)
        })
    }

    #[inline]
    pub fn index(&self, c: [usize; 3]) -> usize {
        (c[0] * self.n[1] + c[1]) * self.n[2] + c[2]
    }

    pub fn coords(&self, index: usize) -> [usize; 3] {
        [
            index / (self.n[1] * self.n[2]),
            (index / self.n[2]) % self.n[1],
            index % self.n[2],
        ]
    }

    /// Jackknife sub-volume of a cell.
    pub fn label(&self, c: [usize; 3]) -> usize {
        let s = self.jk_side;
        let sub: [usize; 3] = std::array::from_fn(|d| c[d] / (self.n[d] / s));
        (sub[0] * s + sub[1]) * s + sub[2]
    }

    /// Cell widths per side, Mpc/h.
    pub fn width(&self) -> [f64; 3] {
        std::array::from_fn(|d| self.box_size[d] / self.n[d] as f64)
    }

    /// Neighbour columns (x, y offsets) whose cells can hold a pair within r_max. `half` keeps
    /// the zero offset and one of each pair of opposite offsets, for auto-correlations.
    pub fn columns(&self, r_max: f64, half: bool) -> Vec<[i64; 2]> {
        let r = self.reach.map(|r| r as i64);
        let width = self.width();
        let mut out = Vec::new();
        for ox in -r[0]..=r[0] {
            for oy in -r[1]..=r[1] {
                if half && [ox, oy] < [0, 0] {
                    continue;
                }
                let gap = |o: i64, w: f64| (o.abs() - 1).max(0) as f64 * w;
                let (gx, gy) = (gap(ox, width[0]), gap(oy, width[1]));
                if gx * gx + gy * gy <= r_max * r_max {
                    out.push([ox, oy]);
                }
            }
        }
        out
    }
}

/// Four f64 on a 32-byte boundary: one vector read that never straddles cache lines.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
pub(crate) struct Aligned4(pub [f64; 4]);

/// One sample, wrapped into the box and sorted by cell, as structure-of-arrays.
pub(crate) struct Prepared {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
    /// Unit orientation and weight `[ex, ey, ez, w]` of each galaxy, side by side so that a
    /// partner's are one 32-byte read (empty without orientations).
    pub ew: Vec<Aligned4>,
    /// Weights (1 when none were given).
    pub w: Vec<f64>,
    /// Row of each prepared galaxy in the sample given.
    pub order: Vec<usize>,
    /// Galaxies of cell c are `cell_start[c]..cell_start[c + 1]`.
    pub cell_start: Vec<usize>,
    pub oriented: bool,
    pub weighted: bool,
    pub weight_sum: f64,
    pub weight2_sum: f64,
    /// Weight sums per jackknife sub-volume (empty without a jackknife).
    pub label_weight: Vec<f64>,
    pub label_weight2: Vec<f64>,
}

/// Wraps a coordinate into [0, l).
#[inline]
fn wrap(v: f64, l: f64) -> f64 {
    let w = v.rem_euclid(l);
    if w < l {
        w
    } else {
        0.0
    }
}

impl Prepared {
    /// Assumes `s` was validated (finite, non-zero orientations, matching lengths).
    pub fn new(plan: &Plan, grid: &Grid, s: &Galaxies) -> Prepared {
        let n = s.positions.len();
        let wrapped: Vec<[f64; 3]> = s
            .positions
            .iter()
            .map(|p| std::array::from_fn(|d| wrap(p[d], grid.box_size[d])))
            .collect();
        let cell: Vec<usize> = wrapped
            .iter()
            .map(|&p| grid.index(grid.cell_coords(p)))
            .collect();
        let n_cells = grid.n_cells();
        let mut cell_start = vec![0usize; n_cells + 1];
        for &c in &cell {
            cell_start[c + 1] += 1;
        }
        for c in 0..n_cells {
            cell_start[c + 1] += cell_start[c];
        }
        let mut next = cell_start.clone();
        let mut order = vec![0usize; n];
        for (i, &c) in cell.iter().enumerate() {
            order[next[c]] = i;
            next[c] += 1;
        }
        // Within a cell by z, so that a column of cells is sorted by z (the kernel's z window).
        for c in 0..n_cells {
            order[cell_start[c]..cell_start[c + 1]]
                .sort_unstable_by(|&i, &j| wrapped[i][2].total_cmp(&wrapped[j][2]).then(i.cmp(&j)));
        }
        let pick = |f: &dyn Fn(usize) -> f64| order.iter().map(|&i| f(i)).collect::<Vec<f64>>();
        let w = match s.weights {
            Some(w) => pick(&|i| w[i]),
            None => vec![1.0; n],
        };
        let ew = match s.orientations {
            Some(o) => order
                .iter()
                .zip(&w)
                .map(|(&i, &wi)| {
                    let e = o[i];
                    let norm = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
                    Aligned4([e[0] / norm, e[1] / norm, e[2] / norm, wi])
                })
                .collect(),
            None => Vec::new(),
        };
        let (mut label_weight, mut label_weight2) = (Vec::new(), Vec::new());
        if plan.jackknife.is_some() {
            let n_sub = grid.jk_side.pow(3);
            label_weight = vec![0.0; n_sub];
            label_weight2 = vec![0.0; n_sub];
            for c in 0..n_cells {
                let label = grid.label(grid.coords(c));
                for &wi in &w[cell_start[c]..cell_start[c + 1]] {
                    label_weight[label] += wi;
                    label_weight2[label] += wi * wi;
                }
            }
        }
        Prepared {
            x: pick(&|i| wrapped[i][0]),
            y: pick(&|i| wrapped[i][1]),
            z: pick(&|i| wrapped[i][2]),
            ew,
            weight_sum: w.iter().sum(),
            weight2_sum: w.iter().map(|v| v * v).sum(),
            w,
            order,
            cell_start,
            oriented: s.orientations.is_some(),
            weighted: s.weights.is_some(),
            label_weight,
            label_weight2,
        }
    }

    #[inline]
    pub fn cell(&self, c: usize) -> std::ops::Range<usize> {
        self.cell_start[c]..self.cell_start[c + 1]
    }
}
