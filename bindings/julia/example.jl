# iaemu from Julia: predict xi, omega and eta with the built-in emulator for two parameter
# points (mean, aleatoric and epistemic standard deviations, derivatives), then make a small
# synthetic universe, populate it, measure the correlation functions of its galaxies and
# simulate the first point. Run from the repository root (after bash bindings/julia/setup.sh):
#
#   bindings/julia/julia bindings/julia/example.jl
#
# (IAEMU_LIB=/path/to/libiaemu.so picks another library than target/release/libiaemu.so.)
include(joinpath(@__DIR__, "IAEmu.jl"))
using .IAEmu
using Printf

println("iaemu ", version(), " from ", IAEmu.library_path())

# Two points, one column each, rows in the order of param_names(): the -20 point of Zheng et
# al. (2007) with mu_cen = mu_sat = 0.8, and one with weaker alignments. A 7 x n Julia matrix
# is C's n x 7 row-major array.
params = [0.8    0.3
          0.8   -0.2
          12.02 12.5
          0.26   0.4
          11.38 12.0
          13.31 13.6
          1.06   1.0]
println("parameters: ", join(param_names(), ", "))

emu = load_emulator()                  # the built-in model, on CUDA when there is one
ei = info(emu)
edges = r_edges(emu)
println("emulator: ", Int(ei.n_bins), " bins, ", ei.n_weights, " weights, on ",
        ei.on_cuda != 0 ? "CUDA" : "the CPU")

# mean[b, s, i]: bin b, statistic s (1 xi, 2 omega, 3 eta), point i (C: n x 3 x n_bins).
p = predict(emu, params; mc_passes=20, seed=42)
for i in 1:size(params, 2)
    println("point $(i - 1) (domain flags $(p.flags[i]))")
    @printf("%9s %12s %10s %10s %12s %10s %10s %12s %10s %10s\n", "r_mid", "xi", "sd_ale",
            "sd_epi", "omega", "sd_ale", "sd_epi", "eta", "sd_ale", "sd_epi")
    for b in 1:length(edges) - 1
        @printf("%9.4f", sqrt(edges[b] * edges[b + 1]))
        for s in 1:3
            @printf(" %12.5e %10.3e %10.3e", p.mean[b, s, i], sqrt(p.aleatoric_var[b, s, i]),
                    sqrt(p.epistemic_var[b, s, i]))
        end
        println()
    end
end

# Derivatives of the plain prediction: jacobian[k, b, s, i] = d mean[b, s, i] / d params[k, i].
j = jacobian(emu, params)
@printf("d xi / d logMmin at r = %.3f, point 0: %.5e\n", sqrt(edges[10] * edges[11]),
        j.jacobian[3, 10, 1, 1])
close(emu)                             # or leave it to the garbage collector

# A small synthetic universe (60 Mpc/h box, 32^3 grid: a second or two to make).
halos = synthetic_halos(box_size=60.0, grid=32, seed=1)
hi = info(halos)
println("synthetic universe: $(Int(hi.n_halos)) halos ($(Int(hi.n_hosts)) hosts), box $(hi.box_size[1]) Mpc/h")
mvir = column(halos, "halo_mvir")
@printf("mvir %.4e to %.4e Msun/h\n", minimum(mvir), maximum(mvir))

galaxies = populate(halos, params[:, 1], 1)
central, _ = galaxies_kind(galaxies)
println("populated point 0: $(length(galaxies)) galaxies ($(count(central)) centrals)")
pos = positions(galaxies)              # 3 x n (C: n x 3)
ori = orientations(galaxies)
r = correlate(pos, ori; box_size=hi.box_size[1])
xs, ws, es = xi(r), omega(r), eta(r)

s = simulate(halos, params[:, 1], 2, 1)   # mean and var: n_bins x 3 (C: 3 x n_bins)
println("point 0 on the synthetic universe: one catalogue, and the mean of 2 realisations")
@printf("%9s %12s %12s %12s %12s %12s %12s\n", "r_mid", "xi", "omega", "eta", "sim xi",
        "sim omega", "sim eta")
for b in 1:n_bins(r)
    @printf("%9.4f %12.5e %12.5e %12.5e %12.5e %12.5e %12.5e\n", sqrt(edges[b] * edges[b + 1]),
            xs[b], ws[b], es[b], s.mean[b, 1], s.mean[b, 2], s.mean[b, 3])
end

# Errors are IAEmuError exceptions carrying the library's message.
try
    populate(halos, [NaN, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06], 1)
catch e
    e isa IAEmuError || rethrow()
    println("as expected: ", sprint(showerror, e))
end
foreach(close, (r, galaxies, halos))
