# The Julia binding's test (run by bindings/julia/test.sh, which makes the inputs):
#   julia test.jl REF_DIR LAYOUT_TXT [DATASET_DIR WORK_DIR]
# DATASET_DIR is a small dataset from `iaemu generate` for `train` (WORK_DIR gets the models it
# writes); without them training is not tested.
# REF_DIR holds the outputs of bindings/reference.sh and bindings/reference-expect.sh (the Rust
# command line on fixed inputs); LAYOUT_TXT what bindings/layout.c printed given the reference
# halos and table (C struct sizes, offsets and values). Every number the binding
# computes is compared with them (relative 1e-9 plus 1e-300 absolute, NaN equal to NaN; the
# library is deterministic, so they agree to the last bit in practice).
include(joinpath(@__DIR__, "IAEmu.jl"))
using .IAEmu
using Test

const REF = ARGS[1]
const LAYOUT = ARGS[2]
const DATASET = length(ARGS) >= 4 ? ARGS[3] : nothing
const WORK = length(ARGS) >= 4 ? ARGS[4] : nothing
const TRAIN_NOTE = Ref("train not tested: no dataset given")
const TABLE_NOTE = Ref("tables: FAILED; ")
const RTOL = 1e-9
const ATOL = 1e-300

const n_checked = Ref(0)
const max_rel = Ref(0.0)
const jac_mean_rel = Ref(NaN)

readflat(name) = [parse(Float64, l) for l in eachline(joinpath(REF, name)) if !isempty(strip(l))]

function counts()
    d = Dict{String,Int}()
    for l in eachline(joinpath(REF, "counts.txt"))
        k, v = split(l)
        d[k] = parse(Int, v)
    end
    d
end

same(a, b, rtol=RTOL) = (isnan(a) && isnan(b)) || a == b || abs(a - b) <= rtol * abs(b) + ATOL

# Compares arrays of the same shape number by number; records how many and the largest
# relative difference; prints the first mismatches.
function compare(what, got, want; rtol=RTOL)
    @test size(got) == size(want)
    size(got) == size(want) || return
    bad = 0
    for i in eachindex(got, want)
        a, b = Float64(got[i]), Float64(want[i])
        if !same(a, b, rtol)
            bad += 1
            bad <= 5 && println("  $what[$(Tuple(CartesianIndices(got)[i]))]: got $a, want $b")
        elseif rtol == RTOL && !isnan(b) && b != 0
            max_rel[] = max(max_rel[], abs(a - b) / abs(b))
        end
    end
    n_checked[] += length(want)
    @test bad == 0
end

# A little NumPy .npy reader (little-endian float64, C order): returns the array with its
# dimensions reversed (so C's n x 6 is a 6 x n Julia matrix).
function read_npy(path)
    open(path) do io
        @assert read(io, 6) == UInt8[0x93, 'N', 'U', 'M', 'P', 'Y']
        major = read(io, UInt8)
        read(io, UInt8)
        hlen = major == 1 ? Int(ltoh(read(io, UInt16))) : Int(ltoh(read(io, UInt32)))
        header = String(read(io, hlen))
        @assert occursin("'descr': '<f8'", header) header
        @assert occursin("'fortran_order': False", header) header
        shape = Tuple(parse.(Int, split(match(r"'shape': \(([^)]*)\)", header)[1], ',', keepempty=false)))
        data = Vector{Float64}(undef, prod(shape))
        read!(io, data)
        reshape(ltoh.(data), reverse(shape)...)
    end
end

# Parses layout.txt: sizes, offsets and values (keyed "T.field[i]").
function read_layout()
    sizes, offsets, values = Dict{String,Int}(), Dict{Tuple{String,String},Int}(), Dict{String,Float64}()
    for l in eachline(LAYOUT)
        w = split(l)
        if w[1] == "value"
            values[w[2]] = parse(Float64, w[3])
        else  # "T.sizeof n" or "T.field offset"
            t, f = split(w[1], '.')
            if f == "sizeof"
                sizes[t] = parse(Int, w[2])
            else
                offsets[(String(t), String(f))] = parse(Int, w[2])
            end
        end
    end
    sizes, offsets, values
end

# A struct's fields flattened to "Cname.field[i]" => value.
function flat_fields(cname, x)
    d = Dict{String,Float64}()
    for f in fieldnames(typeof(x))
        v = getfield(x, f)
        v isa Ptr && continue
        if v isa Tuple
            for (i, e) in enumerate(v)
                d["$cname.$f[$(i - 1)]"] = Float64(e)
            end
        else
            d["$cname.$f[0]"] = Float64(v)
        end
    end
    d
end

function expect_counts()
    d = Dict{String,Int}()
    for l in eachline(joinpath(REF, "expect_counts.txt"))
        k, v = split(l)
        d[k] = parse(Int, v)
    end
    d
end

# The error a call throws (nothing when it returns).
caught(f) = try f(); nothing catch e; e end

const PARAMS = reshape(readflat("params.txt"), 7, 2)   # C 2 x 7 -> Julia 7 x 2
const P0 = PARAMS[:, 1]
const C = counts()

@testset "IAEmu.jl" begin
    sizes, offsets, cvalues = read_layout()
    mirrors = ("IaCorrOptions" => IAEmu.IaCorrOptions, "IaHalosLoadOptions" => IAEmu.IaHalosLoadOptions,
               "IaSyntheticOptions" => IAEmu.SyntheticOptions, "IaHalosInfo" => IAEmu.HalosInfo,
               "IaSimulateOptions" => IAEmu.IaSimulateOptions, "IaEmulatorInfo" => IAEmu.EmulatorInfo,
               "IaTrainEpoch" => IAEmu.TrainEpoch, "IaTableOptions" => IAEmu.IaTableOptions,
               "IaExpectOptions" => IAEmu.ExpectOptions, "IaTableInfo" => IAEmu.TableInfo)
    halos = nothing
    galaxies = nothing

    @testset "struct layouts match C" begin
        for (cname, T) in mirrors
            @test sizeof(T) == sizes[cname]
            @test Set(f for (t, f) in keys(offsets) if t == cname) == Set(string.(fieldnames(T)))
            for (i, f) in enumerate(fieldnames(T))
                @test Int(fieldoffset(T, i)) == offsets[(cname, string(f))]
            end
            @test isbitstype(T)
        end
    end

    @testset "library" begin
        @test version() == "0.1.0"
        @test occursin(r"^\d+\.\d+\.\d+$", version())
        @test param_names() == ["mu_cen", "mu_sat", "logMmin", "sigma_logM", "logM0", "logM1", "alpha"]
        @test_throws IAEmuError param_name(8)
        @test set_num_threads(2) === nothing
        @test set_num_threads(0) === nothing
        @test last_error_message() == ""
    end

    @testset "option defaults read through the Julia structs" begin
        c = Ref{IAEmu.IaCorrOptions}()
        @test ccall(IAEmu.sym(:ia_corr_options_default), Cint, (Cdouble, Ref{IAEmu.IaCorrOptions}), 60.0, c) == 0
        co = corr_options(60.0)
        @test co.box_size == (60.0, 60.0, 60.0) && co.r_edges === nothing
        for (name, x) in (("IaCorrOptions", c[]), ("IaSyntheticOptions", IAEmu.SyntheticOptions()))
            for (k, v) in flat_fields(name, x)
                compare(k, [v], [cvalues[k]])
            end
        end
        s = Ref{IAEmu.IaSimulateOptions}()
        @test ccall(IAEmu.sym(:ia_simulate_options_default), Cint, (Ref{IAEmu.IaSimulateOptions},), s) == 0
        @test s[].r_edges == C_NULL
        for (k, v) in flat_fields("IaSimulateOptions", s[])
            compare(k, [v], [cvalues[k]])
        end
    end

    @testset "halos" begin
        halos = load_halos(joinpath(REF, "halos.hdf5"))
        hi = info(halos)
        @test hi isa IAEmu.HalosInfo
        for (k, v) in flat_fields("IaHalosInfo", hi)
            compare(k, [v], [cvalues[k]])
        end
        compare("n_halos", [hi.n_halos], [C["n_halos"]])
        compare("n_hosts", [hi.n_hosts], [C["n_hosts"]])
        compare("box_size", collect(hi.box_size), [60.0, 60.0, 60.0])
        n = Int(hi.n_halos)
        @test length(halos) == n
        mvir = column_f64(halos, "halo_mvir")
        @test length(mvir) == n
        compare("mvir range", [minimum(mvir), maximum(mvir)], [hi.mvir_min, hi.mvir_max])
        upid = column(halos, "halo_upid")
        @test upid isa Vector{Int64}
        compare("hosts (upid = -1)", [count(==(-1), upid)], [C["n_hosts"]])
        x = column(halos, "halo_x")
        @test x isa Vector{Float64} && all(0 .<= x .< 60)
        # The shape: axis ratios, NaN where unknown, else 0 < c/a <= b/a <= 1.
        ba, ca = column(halos, "halo_b_to_a"), column(halos, "halo_c_to_a")
        @test ba isa Vector{Float64} && length(ba) == length(ca) == n
        @test all(i -> isnan(ba[i]) || isnan(ca[i]) || 0 < ca[i] <= ba[i] + 1e-6 && ba[i] <= 1, 1:n)
        # The same universe made here, saved as .npz and read back, with and without options.
        syn = synthetic_halos(box_size=60, grid=32, seed=1)
        compare("synthetic n_halos", [info(syn).n_halos], [hi.n_halos])
        compare("synthetic mvir", column_f64(syn, "halo_mvir"), mvir)
        npz = joinpath(dirname(LAYOUT), "halos-julia.npz")
        save_halos(syn, npz)
        back = load_halos(npz)
        compare("saved and loaded halo_id", column_i64(back, "halo_id"), column_i64(halos, "halo_id"))
        forced = load_halos(npz; redshift=0.5, force=true)
        compare("forced redshift", [info(forced).redshift], [0.5])
        foreach(close, (syn, back, forced))
        err = try column_f64(halos, "no_such_column"); nothing catch e; e end
        @test err isa IAEmuError && err.status == -1 && occursin("no_such_column", err.message)
    end

    @testset "galaxies (populate point 0, seed 1)" begin
        galaxies = populate(halos, P0, 1)
        n = galaxies_count(galaxies)
        compare("n_galaxies", [n], [C["n_galaxies"]])
        @test length(galaxies) == n
        central, host = galaxies_kind(galaxies)
        compare("n_centrals", [count(central)], [C["n_centrals"]])
        @test length(host) == n && issubset(Set(host), Set(column_i64(halos, "halo_id")))
        pos = positions(galaxies)
        ori = orientations(galaxies)
        vel = velocities(galaxies)
        @test size(pos) == (3, n) && size(ori) == (3, n) && size(vel) == (3, n)
        @test galaxies_get(galaxies, IAEmu.IA_GAL_POSITIONS) == pos
        npy = read_npy(joinpath(REF, "galaxies.npy"))   # 6 x n: x, y, z, ex, ey, ez
        compare("positions vs galaxies.npy", pos, npy[1:3, :])
        compare("orientations vs galaxies.npy", ori, npy[4:6, :])
        @test all(abs.(sum(ori .^ 2, dims=1) .- 1) .< 1e-12)
        # The same seed gives the same galaxies.
        g2 = populate(halos, P0, 1)
        @test positions(g2) == pos
        close(g2)
    end

    @testset "correlate (galaxies made here, box 60)" begin
        pos, ori = positions(galaxies), orientations(galaxies)
        r = correlate(pos, ori; options=corr_options(60.0))
        @test n_bins(r) == 20
        want = reshape(readflat("correlate.txt"), 20, 3)        # C 3 x 20 -> Julia 20 x 3
        compare("correlate xi", xi(r), want[:, 1])
        compare("correlate omega", omega(r), want[:, 2])
        compare("correlate eta", eta(r), want[:, 3])
        edges = r_edges(r)
        compare("correlate r_edges", edges, readflat("r_edges.txt"))
        compare("correlate r_mid", r_mid(r), (edges[1:end-1] .+ edges[2:end]) ./ 2)
        compare("pairs vs weighted pairs", Float64.(pair_counts(r)), weighted_pairs(r))
        @test corr_get(r, IAEmu.IA_CORR_XI) == xi(r)
        # Jackknife quantities need a jackknife: asking without one is an error.
        err = try xi_var(r); nothing catch e; e end
        @test err isa IAEmuError && err.status < 0 && !isempty(err.message)
        close(r)
        close(r)                                              # twice is fine
        @test !isopen(r)
        @test_throws ArgumentError xi(r)

        # Options: one thread and explicit default edges give the same numbers; a jackknife
        # with covariance gives variances equal to the covariance diagonal.
        r1 = correlate(pos, ori; options=corr_options(60.0; n_threads=1, r_edges=edges,
                                                      jackknife_side=2, covariance=true))
        compare("correlate xi (1 thread, explicit edges)", xi(r1), want[:, 1])
        cov = covariance(r1)
        @test size(cov) == (60, 60)
        compare("covariance diagonal", [cov[i, i] for i in 1:60], vcat(xi_var(r1), omega_var(r1), eta_var(r1)))
        compare("covariance symmetry", cov, permutedims(cov))
        # Positions only: xi alone, omega and eta NaN.
        r2 = correlate(pos; box_size=60)
        compare("xi without orientations", xi(r2), want[:, 1])
        @test all(isnan, omega(r2))
        # Cross-correlation of the sample with itself: same pairs, same xi.
        r3 = cross_correlate(pos, ori, pos, ori; box_size=60)
        compare("cross xi (sample with itself)", xi(r3), want[:, 1])
        foreach(close, (r1, r2, r3))
    end

    @testset "simulate (point 0, 2 realisations, seed 1)" begin
        s = simulate(halos, P0, 2, 1)
        @test size(s.mean) == (20, 3) && size(s.var) == (20, 3)
        compare("simulate mean", s.mean, reshape(readflat("simulate_mean.txt"), 20, 3))
        compare("simulate var", s.var, reshape(readflat("simulate_var.txt"), 20, 3))
        s1 = simulate(halos, P0, 2, 1; options=IAEmu.SimulateOptions(n_threads=1))
        compare("simulate mean (1 thread)", s1.mean, s.mean)
    end

    @testset "emulator (built-in model)" begin
        emu = load_emulator()
        ei = info(emu)
        for (k, v) in flat_fields("IaEmulatorInfo", ei)
            compare(k, [v], [cvalues[k]])
        end
        @test (ei.n_params, ei.n_statistics, ei.n_bins) == (7, 3, 20)
        compare("emulator r_edges", r_edges(emu), readflat("r_edges.txt"))

        p = predict(emu, PARAMS; mc_passes=20, seed=42)
        @test size(p.mean) == (20, 3, 2)
        compare("predict mean", p.mean, reshape(readflat("predict_mean.txt"), 20, 3, 2))
        compare("predict aleatoric var", p.aleatoric_var, reshape(readflat("predict_aleatoric_var.txt"), 20, 3, 2))
        compare("predict epistemic var", p.epistemic_var, reshape(readflat("predict_epistemic_var.txt"), 20, 3, 2))
        @test p.flags == [0, 0]
        # predict_plain_mean.txt is the plain mean as ia_predict_jacobian computes it.
        plain_ref = reshape(readflat("predict_plain_mean.txt"), 20, 3, 2)
        j = jacobian(emu, PARAMS)
        @test size(j.jacobian) == (7, 20, 3, 2) && size(j.mean) == (20, 3, 2)
        compare("jacobian", j.jacobian, reshape(readflat("jacobian.txt"), 7, 20, 3, 2))
        compare("jacobian mean", j.mean, plain_ref)
        @test j.flags == [0, 0]
        compare("jacobian mean (point 1 alone)", jacobian(emu, PARAMS[:, 2]).mean[:, :, 1], j.mean[:, :, 2])
        # A one-pass ia_predict_batch is the same plain prediction through another evaluation of
        # the float32 network (each row repeated 60 times in the Jacobian's pass): equal to
        # float32 rounding only, so this one comparison has a float32 tolerance.
        p1 = predict(emu, PARAMS; mc_passes=1, variances=false)
        @test p1.aleatoric_var === nothing && p1.epistemic_var === nothing
        # Float32 rounding is relative to the largest value of each curve (omega and eta cross
        # zero): under 1e-4 of it (F32_ROUNDING in tests/emulator.rs).
        @test size(p1.mean) == size(plain_ref)
        jac_mean_rel[] = maximum(abs.(p1.mean .- plain_ref) ./ maximum(abs.(plain_ref), dims=1))
        @test jac_mean_rel[] <= 1e-4
        # One point as a vector: the first column of the batch.
        compare("predict one point", predict(emu, P0; mc_passes=20, seed=42).mean[:, :, 1],
                predict(emu, reshape(P0, 7, 1); mc_passes=20, seed=42).mean[:, :, 1])

        # Errors: a NaN parameter is the library's invalid argument, with its message.
        bad = copy(PARAMS)
        bad[1, 2] = NaN
        err = try predict(emu, bad; mc_passes=20, seed=42); nothing catch e; e end
        @test err isa IAEmuError
        @test err.status == IAEmu.IA_ERR_INVALID_ARGUMENT
        @test occursin("ia_predict_batch", err.message)
        @test occursin("mu_cen = NaN", err.message)
        @test occursin("row 1", err.message)
        @test err.message == last_error_message()
        @test occursin("IA_ERR_INVALID_ARGUMENT", sprint(showerror, err))
        err = try jacobian(emu, bad); nothing catch e; e end
        @test err isa IAEmuError && err.status == -1 && occursin("ia_predict_jacobian", err.message) &&
              occursin("NaN", err.message)
        err = try populate(halos, bad[:, 2], 1); nothing catch e; e end
        @test err isa IAEmuError && err.status == -1 && occursin("ia_populate", err.message)
        err = try simulate(halos, bad[:, 2], 2, 1); nothing catch e; e end
        @test err isa IAEmuError && err.status == -1 && occursin("ia_simulate", err.message)
        # Out of the training domain: status -3, then allowed with extrapolation (flag bit of
        # logMmin, parameter 3, is 1 << 2).
        far = copy(P0)
        far[3] = 20.0
        err = try predict(emu, far); nothing catch e; e end
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_OUT_OF_DOMAIN &&
              occursin("logMmin", err.message)
        set_extrapolation!(emu, true)
        @test predict(emu, far; mc_passes=1).flags == [UInt32(1) << 2]
        set_extrapolation!(emu, false)
        @test_throws DimensionMismatch predict(emu, zeros(6, 2))
        @test last_error_message() == ""

        # The memory budget: under 64 MiB is invalid; under 64 MiB, 20000 passes of one point are
        # refused before they start (status -6); 0 restores the default (in `finally`, so that a
        # failure here leaves the rest of the test unaffected).
        err = try set_memory_budget(1); nothing catch e; e end
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT &&
              occursin("ia_set_memory_budget", err.message)
        @test_throws InexactError set_memory_budget(-1)
        try
            @test set_memory_budget(64 * 2^20) === nothing
            err = try predict(emu, P0; mc_passes=20000, seed=42); nothing catch e; e end
            @test err isa IAEmuError && err.status == IAEmu.IA_ERR_OUT_OF_MEMORY == -6 &&
                  occursin("memory budget", err.message)
            @test err isa IAEmuError && occursin("IA_ERR_OUT_OF_MEMORY", sprint(showerror, err))
        finally
            set_memory_budget(0)
        end
        @test size(predict(emu, P0; mc_passes=1).mean) == (20, 3, 1)

        err = try load_emulator(joinpath(REF, "params.txt")); nothing catch e; e end
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_IO
        close(emu)
        close(emu)
        @test_throws ArgumentError info(emu)
    end

    @testset "more errors and handles" begin
        err = try load_halos(joinpath(REF, "no-such-file.hdf5")); nothing catch e; e end
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_IO && occursin("no-such-file.hdf5", err.message)
        # A handle freed behind the wrapper's back is reported by the library, not used.
        g = populate(halos, P0, 2)
        raw = g.ptr
        close(g)
        st = ccall(IAEmu.sym(:ia_galaxies_count), Cint, (Ptr{Cvoid}, Ref{Csize_t}), raw, Ref{Csize_t}(0))
        @test st == IAEmu.IA_ERR_INVALID_ARGUMENT && !isempty(last_error_message())
        # Handles left to the garbage collector are freed by their finalizers.
        for i in 1:3
            populate(halos, P0, i)
        end
        GC.gc()
        close(galaxies)
        close(halos)
        close(halos)
    end

    # --- tables and expected correlations (bindings/reference-expect.sh: the table of a 50 Mpc/h
    # universe with 3 bins, evaluated at the two reference points) ------------------------------
    @testset "tables and expected correlations" begin
        EC = expect_counts()
        edges = readflat("expect_r_edges.txt")
        nb = length(edges) - 1
        mean_ref = reshape(readflat("expect_mean.txt"), nb, 3, 2)            # C 2 x 3 x nb
        ngal_ref = readflat("expect_n_galaxies.txt")
        parts_ref = reshape(readflat("expect_parts.txt"), nb, 3, 5, 2)       # C 2 x 5 x 3 x nb
        jac_ref = reshape(readflat("expect_jacobian.txt"), 7, nb, 3, 2)      # C 2 x 3 x nb x 7
        sizes, offsets, cvalues = read_layout()

        # The option defaults through the Julia structs, against C.
        c = Ref{IAEmu.IaTableOptions}()
        @test ccall(IAEmu.sym(:ia_table_options_default), Cint, (Ref{IAEmu.IaTableOptions},), c) == 0
        @test c[].r_edges == C_NULL
        for (name, x) in (("IaTableOptions", c[]), ("IaExpectOptions", ExpectOptions()))
            for (k, v) in flat_fields(name, x)
                compare(k, [v], [cvalues[k]])
            end
        end
        d = TableOptions()
        @test d.r_edges === nothing && d.satellites == IAEmu.IA_SATELLITES_AUTO &&
              d.min_host_particles == 300 && d.mass_bin_dex == 0.2 && d.draws_per_mass_bin == 2^21 &&
              d.tracers_two_halo == 1 && d.seed == 1 && d.n_threads == 0
        eo = ExpectOptions()
        @test eo.xi_normalization == IAEmu.IA_XI_N_SQUARED && eo.satellites_times_centrals == 0 &&
              eo.n_threads == 0
        @test_throws ArgumentError TableOptions(no_such_field=1)
        @test_throws ArgumentError ExpectOptions(no_such_field=1)

        # The command line's table.
        table = load_table(joinpath(REF, "table.npz"))
        ti = info(table)
        @test ti isa TableInfo
        for (k, v) in flat_fields("IaTableInfo", ti)
            compare(k, [v], [cvalues[k]])
        end
        compare("table n_bins", [ti.n_bins, n_bins(table)], [EC["n_bins"], nb])
        compare("table n_hosts", [ti.n_hosts], [EC["n_hosts"]])
        compare("table n_subhalos", [ti.n_subhalos], [EC["n_subhalos"]])
        @test ti.satellites == IAEmu.IA_SATELLITES_SUBHALOS
        compare("table box_size", collect(ti.box_size), [50.0, 50.0, 50.0])
        @test ti.size_bytes > 0
        compare("table r_edges", r_edges(table), edges)
        compare("table r_mid", r_mid(table), (edges[1:end-1] .+ edges[2:end]) ./ 2)

        # Expected means and galaxy numbers, default options.
        e = expect(table, PARAMS)
        @test size(e.mean) == (nb, 3, 2) && size(e.n_galaxies) == (2,)
        compare("expect mean", e.mean, mean_ref)
        compare("expect n_galaxies", e.n_galaxies, ngal_ref)
        @test expect(table, PARAMS; options=ExpectOptions()).mean == e.mean
        @test expect(table, PARAMS; n_threads=1).mean == e.mean
        one = expect(table, PARAMS[:, 2])                 # one point as a 7-vector: n = 1
        @test size(one.mean) == (nb, 3, 1)
        compare("expect point 1 alone", one.mean[:, :, 1], e.mean[:, :, 2])
        compare("expect n_galaxies point 1 alone", one.n_galaxies, e.n_galaxies[2:2])

        # The Jacobian.
        j = jacobian(table, PARAMS)
        @test size(j) == (7, nb, 3, 2)
        compare("expect jacobian", j, jac_ref)
        @test j[1, 1, 1, 1] == 0 && j[1, 1, 2, 1] != 0    # mu_cen moves omega, not xi

        # The parts, against the reference, and their sums (1 + xi, omega, eta).
        pp = parts(table, PARAMS)
        @test size(pp) == (nb, 3, 5, 2) && length(IAEmu.PART_NAMES) == IAEmu.IA_N_PARTS
        compare("expect parts", pp, parts_ref)
        compare("part cen_sat_1h of point 1", pp[:, :, IAEmu.IA_PART_CEN_SAT_1H + 1, 2],
                parts_ref[:, :, 2, 2])
        want = copy(e.mean)
        want[:, 1, :] .+= 1
        @test all(abs.(dropdims(sum(pp, dims=3), dims=3) .- want) .<= 1e-12 .* abs.(want) .+ 1e-15)

        # Other options: as the command line's --normalization n-n-minus1
        # --satellites-times-centrals; keywords and an ExpectOptions give the same.
        opt = ExpectOptions(xi_normalization=IAEmu.IA_XI_N_N_MINUS_1, satellites_times_centrals=true)
        @test opt.xi_normalization == IAEmu.IA_XI_N_N_MINUS_1 && opt.satellites_times_centrals == 1
        eo = expect(table, PARAMS; options=opt)
        compare("expect mean with options", eo.mean,
                reshape(readflat("expect_options_mean.txt"), nb, 3, 2))
        compare("expect n_galaxies with options", eo.n_galaxies, readflat("expect_options_n_galaxies.txt"))
        @test eo.mean != e.mean
        @test expect(table, PARAMS; xi_normalization=IAEmu.IA_XI_N_N_MINUS_1,
                     satellites_times_centrals=true).mean == eo.mean
        @test size(jacobian(table, PARAMS; options=opt)) == (7, nb, 3, 2)
        @test size(parts(table, PARAMS; options=opt)) == (nb, 3, 5, 2)
        @test_throws ArgumentError expect(table, PARAMS; options=opt, n_threads=1)

        # Built here from the same halos, edges and thread count: the command line's table.
        h = load_halos(joinpath(REF, "expect-halos.npz"))
        built = build_table(h; r_edges=edges, n_threads=2)
        close(h)                                          # the table lives on its own
        bi = info(built)
        @test (bi.n_bins, bi.n_hosts, bi.n_subhalos, bi.satellites) ==
              (ti.n_bins, ti.n_hosts, ti.n_subhalos, ti.satellites)
        compare("built table: r_edges", r_edges(built), edges)
        be = expect(built, PARAMS)
        compare("built table: expect mean", be.mean, mean_ref)
        compare("built table: n_galaxies", be.n_galaxies, ngal_ref)
        compare("built table: jacobian", jacobian(built, PARAMS), jac_ref)
        compare("built table: parts", parts(built, PARAMS), parts_ref)
        # Saved and read back.
        path = joinpath(dirname(LAYOUT), "table-julia.npz")
        rm(path; force=true)
        save_table(built, path)
        close(built)
        back = load_table(path)
        @test info(back) == bi
        compare("saved and read back: r_edges", r_edges(back), edges)
        compare("saved and read back: expect mean", expect(back, PARAMS).mean, mean_ref)
        compare("saved and read back: parts", parts(back, PARAMS), parts_ref)
        close(back)
        # Another satellite model through a TableOptions, small and quick.
        h2 = load_halos(joinpath(REF, "expect-halos.npz"))
        nfw = TableOptions(r_edges=[0.5, 2, 8], satellites=IAEmu.IA_SATELLITES_NFW, mass_bin_dex=0.5,
                           draws_per_mass_bin=2^12, tracers_two_halo=1, n_threads=2)
        t2 = build_table(h2; options=nfw)
        @test info(t2).satellites == IAEmu.IA_SATELLITES_NFW && n_bins(t2) == 2
        @test all(isfinite, expect(t2, P0).mean[:, 1, 1])
        close(t2)
        @test_throws ArgumentError build_table(h2; options=nfw, n_threads=1)
        err = caught(() -> build_table(h2; mass_bin_dex=5))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT &&
              occursin("ia_table_build", err.message) && occursin("mass_bin_dex", err.message)
        err = caught(() -> build_table(h2; r_edges=[1.0, 0.5, 2.0]))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT &&
              occursin("ia_table_build", err.message)
        println("decreasing edges: ", sprint(showerror, err))
        close(h2)
        @test_throws ArgumentError build_table(h2)       # a closed Halos

        # Errors: a NaN parameter (mu_sat of point 1), with the library's message, from each.
        bad = copy(PARAMS)
        bad[2, 2] = NaN
        err = caught(() -> expect(table, bad))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT
        @test err isa IAEmuError && err.message == last_error_message()
        @test err isa IAEmuError && occursin("ia_expect_batch", err.message) &&
              occursin("row 1", err.message) && occursin("mu_sat", err.message) &&
              occursin("NaN", err.message)
        @test occursin("IA_ERR_INVALID_ARGUMENT", sprint(showerror, err))
        println("NaN parameter: ", sprint(showerror, err))
        for (f, name) in ((jacobian, "ia_expect_jacobian"), (parts, "ia_expect_parts"))
            err = caught(() -> f(table, bad))
            @test err isa IAEmuError && err.status == -1 && occursin(name, err.message) &&
                  occursin("mu_sat", err.message)
        end
        # Too few galaxies on average: refused by the library.
        empty = copy(P0)
        empty[3] = empty[6] = 16.0
        err = caught(() -> expect(table, empty))
        @test err isa IAEmuError && err.status == -1 && occursin("at least 2", err.message)
        err = caught(() -> expect(table, PARAMS; n_threads=5000))
        @test err isa IAEmuError && err.status == -1
        # Wrong sizes: caught by the wrapper (DimensionMismatch naming the shape) ...
        err = caught(() -> expect(table, zeros(6, 2)))
        @test err isa DimensionMismatch && occursin("7 x n", err.msg) && occursin("(6, 2)", err.msg)
        err = caught(() -> jacobian(table, PARAMS[1:6, 1]))
        @test err isa DimensionMismatch && occursin("7 x n", err.msg)
        @test_throws DimensionMismatch parts(table, ones(8))
        # ... and by the library, given wrong lengths through ccall directly.
        st = ccall(IAEmu.sym(:ia_table_r_edges), Cint, (Ptr{Cvoid}, Ptr{Float64}, Csize_t),
                   table, zeros(nb + 2), nb + 2)
        @test st == IAEmu.IA_ERR_INVALID_ARGUMENT && occursin("ia_table_r_edges", last_error_message())
        println("wrong r_edges length: ", last_error_message())
        st = ccall(IAEmu.sym(:ia_expect_batch), Cint,
                   (Ptr{Cvoid}, Ptr{Float64}, Csize_t, Ptr{Cvoid}, Ptr{Float64}, Csize_t, Ptr{Float64}),
                   table, PARAMS, 2, C_NULL, zeros(3nb), 3nb, C_NULL)
        @test st == IAEmu.IA_ERR_INVALID_ARGUMENT && occursin("ia_expect_batch", last_error_message())
        println("wrong out_len: ", last_error_message())

        # Errors: a missing file, a file that is not a table, bad save paths.
        err = caught(() -> load_table(joinpath(REF, "no-such-table.npz")))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_IO &&
              occursin("ia_table_load", err.message) && occursin("no-such-table.npz", err.message)
        println("missing table: ", sprint(showerror, err))
        err = caught(() -> load_table(joinpath(REF, "expect-halos.npz")))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT &&
              occursin("not an iaemu table", err.message)
        err = caught(() -> save_table(table, joinpath(dirname(LAYOUT), "table.txt")))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT
        err = caught(() -> save_table(table, joinpath(dirname(LAYOUT), "no", "such", "table.npz")))
        @test err isa IAEmuError && err.status == IAEmu.IA_ERR_IO

        # Handles: close twice, use after close, a freed handle given to C, finalizers.
        raw = table.ptr
        close(table)
        close(table)
        @test !isopen(table)
        @test_throws ArgumentError expect(table, PARAMS)
        @test_throws ArgumentError info(table)
        st = ccall(IAEmu.sym(:ia_table_info), Cint, (Ptr{Cvoid}, Ref{TableInfo}), raw, Ref{TableInfo}())
        @test st == IAEmu.IA_ERR_INVALID_ARGUMENT && !isempty(last_error_message())
        for i in 1:3
            load_table(joinpath(REF, "table.npz"))
        end
        GC.gc()
        @test version() == "0.1.0"
        TABLE_NOTE[] = "tables: the command line's and one built here identical, saved and read back; "
    end

    # --- training on the small dataset of test.sh (about 1 s) ---------------------------------
    if DATASET !== nothing
        @testset "train (small dataset, stopped after epoch 2)" begin
            mkpath(WORK)
            @test sizeof(TrainEpoch) == 80 && isbitstype(TrainEpoch)
            cfg = """{"model": {"encoder": [32, 32]}, "train": {"max_epochs": 50, "batch_size": 16, "device": "cpu"}}"""
            model = joinpath(WORK, "model.safetensors")
            rm(model; force=true)
            rm(model * ".checkpoint"; force=true)
            seen = TrainEpoch[]
            epochs = train(DATASET, model; config=cfg, progress=e -> (push!(seen, e); e.epoch >= 2))
            @test length(epochs) == 2 && epochs == seen
            @test [Int(e.epoch) for e in epochs] == [1, 2]
            @test all(e -> e.max_epochs == 50 && e.resumed == 0, epochs)
            @test all(e -> isfinite(e.train_loss) && isfinite(e.validation_loss) &&
                           isfinite(e.best_validation_loss) && e.learning_rate > 0 &&
                           e.seconds >= 0 && 1 <= e.best_epoch <= e.epoch, epochs)
            @test epochs[2].best_validation_loss == min(epochs[1].validation_loss, epochs[2].validation_loss)
            @test isfile(model)
            trained = load_emulator(model; device="cpu")
            ti = info(trained)
            @test ti.epochs == 2 && ti.n_params == 7 && ti.n_statistics == 3
            set_extrapolation!(trained, true)
            pr = predict(trained, PARAMS; mc_passes=2, seed=1)
            @test size(pr.mean) == (Int(ti.n_bins), 3, 2)
            @test all(isfinite, pr.mean) && all(isfinite, pr.aleatoric_var) && all(isfinite, pr.epistemic_var)
            close(trained)

            # An exception in the progress function stops training and is rethrown, the same
            # object, after ia_train has returned; the library is usable afterwards.
            model2 = joinpath(WORK, "model2.safetensors")
            rm(model2; force=true)
            rm(model2 * ".checkpoint"; force=true)
            calls = Ref(0)
            boom = ErrorException("stop from the progress function")
            err = try
                train(DATASET, model2; config=cfg, progress=e -> (calls[] += 1; throw(boom)))
                nothing
            catch e
                e
            end
            @test err === boom && calls[] == 1
            err = try
                train(DATASET, model2; config=cfg, progress=e -> 1)
                nothing
            catch e
                e
            end
            @test err isa ArgumentError && occursin("true (stop), false or nothing", err.msg)
            @test version() == "0.1.0"

            # A misspelt configuration key and a missing dataset are IAEmuErrors.
            model3 = joinpath(WORK, "model3.safetensors")
            err = try train(DATASET, model3; config="""{"train": {"max_epoch": 3}}"""); nothing catch e; e end
            @test err isa IAEmuError && err.status == IAEmu.IA_ERR_INVALID_ARGUMENT &&
                  occursin("max_epoch", err.message)
            err = try train(joinpath(WORK, "no-such-dataset"), model3); nothing catch e; e end
            @test err isa IAEmuError && err.status == IAEmu.IA_ERR_IO &&
                  occursin("no-such-dataset", err.message)
            @test !isfile(model3)
            TRAIN_NOTE[] = "train: 2 epochs seen and a model written, loaded and used; 4 failure paths"
            println("train: ", length(epochs), " epochs, losses ",
                    [round(e.validation_loss, sigdigits=4) for e in epochs], "; errors: ",
                    sprint(showerror, err))
        end
    end
end

println("bindings/julia: $(n_checked[]) numbers checked against the Rust command line and C " *
        "(largest relative difference $(max_rel[]); one-pass prediction vs Jacobian mean " *
        "$(round(jac_mean_rel[], sigdigits=2)) of the curve's largest value, float32); $(TABLE_NOTE[])$(TRAIN_NOTE[])")
