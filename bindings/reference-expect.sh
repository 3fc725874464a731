#!/bin/bash
# The Rust results the bindings' tests of tables and expected correlations (ia_table_*,
# ia_expect_*) check their numbers against: a small table made and evaluated by the `iaemu`
# command line, written as JSON and as flat text (one number per line, C order; `nan` for NaN)
# for languages without a JSON reader in their standard library.
#   bash bindings/reference-expect.sh LIBDIR OUTDIR     (LIBDIR holds iaemu and libiaemu.so)
# About 6 s on 2 cores (the tabulation). The inputs (one place for them):
#   expect-halos.npz   the synthetic universe with box 50 Mpc/h, grid 16, seed 1 (defaults otherwise)
#   table.npz          its table: `iaemu tabulate --edges 0.1,0.5,2,8 --threads 2` (3 bins; the
#                      other options at their defaults, those of ia_table_options_default). The
#                      tabulation's sums depend on the thread count in the last bits (about 1e-12
#                      relative), so a binding that builds the same table passes 2 threads.
#   points             those of reference.sh: 0.8 0.8 12.02 0.26 11.38 13.31 1.06 and
#                      0.3 -0.2 12.5 0.4 12.0 13.6 1.0
# Outputs in OUTDIR:
#   expect.json                  both points with --parts --jacobian (default options)
#   expect_options.json          both points with --normalization n-n-minus1 --satellites-times-centrals
#   expect_mean.txt              2 x 3 x 3 (point, statistic xi/omega/eta, bin)
#   expect_n_galaxies.txt        2
#   expect_parts.txt             2 x 5 x 3 x 3 (point, part in IA_PART_* order, statistic, bin)
#   expect_jacobian.txt          2 x 3 x 3 x 7 (point, statistic, bin, parameter)
#   expect_options_mean.txt, expect_options_n_galaxies.txt   the same for expect_options.json
#   expect_r_edges.txt           the table's 4 bin edges, Mpc/h
#   expect_counts.txt            name value lines: n_bins, n_hosts, n_subhalos
set -euo pipefail
lib="$1"
out="$2"
iaemu="$lib/iaemu"
mkdir -p "$out"
p0=0.8,0.8,12.02,0.26,11.38,13.31,1.06
p1=0.3,-0.2,12.5,0.4,12.0,13.6,1.0
"$iaemu" halos synth --box 50 --grid 16 --seed 1 --out "$out/expect-halos.npz" >/dev/null 2>&1
"$iaemu" tabulate --halos "$out/expect-halos.npz" --edges 0.1,0.5,2,8 --threads 2 --out "$out/table.npz" \
    > "$out/tabulate.txt" 2>&1 || { cat "$out/tabulate.txt" >&2; exit 1; }
"$iaemu" expect --table "$out/table.npz" --params $p0 --params $p1 --parts --jacobian \
    --out "$out/expect.json" >/dev/null 2>&1
"$iaemu" expect --table "$out/table.npz" --params $p0 --params $p1 --normalization n-n-minus1 \
    --satellites-times-centrals --out "$out/expect_options.json" >/dev/null 2>&1
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
def flat(x):
    return [v for e in x for v in flat(e)] if isinstance(x, list) else [x]
def write(name, values):
    with open(f"{out}/{name}", "w") as f:
        f.write("".join(f"{float('nan') if v is None else v!r}\n" for v in values))
stats = ("xi", "omega", "eta")
parts = ("cen_cen_2h", "cen_sat_1h", "cen_sat_2h", "sat_sat_1h", "sat_sat_2h")
e = json.load(open(f"{out}/expect.json"))
n = len(e["params"])
write("expect_mean.txt", flat([[e[s][i] for s in stats] for i in range(n)]))
write("expect_n_galaxies.txt", e["n_galaxies"])
write("expect_parts.txt", flat([[[e["parts"][p][s][i] for s in stats] for p in parts] for i in range(n)]))
write("expect_jacobian.txt", flat(e["jacobian"]))
write("expect_r_edges.txt", e["r_edges"])
o = json.load(open(f"{out}/expect_options.json"))
write("expect_options_mean.txt", flat([[o[s][i] for s in stats] for i in range(n)]))
write("expect_options_n_galaxies.txt", o["n_galaxies"])
hosts, subhalos = map(int, re.search(r"tabulated (\d+) hosts and (\d+) subhalos",
                                     open(f"{out}/tabulate.txt").read()).groups())
assert hosts == e["table"]["n_hosts"], (hosts, e["table"])
with open(f"{out}/expect_counts.txt", "w") as f:
    f.write(f"n_bins {len(e['r_edges']) - 1}\nn_hosts {hosts}\nn_subhalos {subhalos}\n")
PY
