//! The README says what the program does: its command synopses list exactly the flags each
//! command's `--help` shows, its runnable command examples run (on a small universe where the
//! README's would be slow), and the JSON keys and shapes it lists are in the outputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

fn iaemu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iaemu")).args(args).output().expect("iaemu runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--flag` words of a text.
fn flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if let Some(rest) = word.strip_prefix("--") {
            if rest.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(word.to_string());
            }
        }
    }
    out.remove("--help");
    out.remove("--version");
    out
}

/// The fenced blocks of a Markdown text with their info string, as (info, first line, body).
fn blocks(text: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => open = Some((info.trim().to_string(), i + 1, String::new())),
            }
        } else if let Some(b) = open.as_mut() {
            b.2 += line;
            b.2.push('\n');
        }
    }
    out
}

/// The synopsis of each command: the README block of `iaemu <command> ...` lines, a command
/// per unindented line with its indented continuation lines.
fn synopses(text: &str) -> Vec<(String, String)> {
    let block = blocks(text)
        .into_iter()
        .find(|(info, _, body)| info == "sh" && body.starts_with("iaemu correlate"))
        .expect("the README's command synopsis block")
        .2;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("iaemu ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            // Commands with subcommands: `halos synth`, `halos info`, `tabulate merge`.
            let name = if words[0] == "halos" || words.get(1) == Some(&"merge") { format!("{} {}", words[0], words[1]) } else { words[0].to_string() };
            out.push((name, line.to_string()));
        } else if let Some(last) = out.last_mut() {
            last.1 += line;
        }
    }
    out
}

#[test]
fn synopses_list_exactly_the_flags_of_each_command() {
    let text = readme();
    let syn = synopses(&text);
    assert!(syn.len() >= 13, "{} synopses", syn.len());
    // Every subcommand has a synopsis.
    let help = String::from_utf8_lossy(&iaemu(&["--help"]).stdout).into_owned();
    for line in help.lines().skip_while(|l| !l.starts_with("Commands:")).skip(1) {
        let Some(cmd) = line.split_whitespace().next() else { break };
        if cmd == "help" {
            continue;
        }
        assert!(syn.iter().any(|(n, _)| n == cmd || n.starts_with(&format!("{cmd} "))), "no synopsis for `iaemu {cmd}`");
    }
    let mut problems = Vec::new();
    for (name, line) in &syn {
        let mut args: Vec<&str> = name.split(' ').collect();
        args.push("--help");
        let o = iaemu(&args);
        assert!(o.status.success(), "iaemu {name} --help failed: {}", String::from_utf8_lossy(&o.stderr));
        let actual = flags(&String::from_utf8_lossy(&o.stdout));
        let documented = flags(line);
        for f in actual.difference(&documented) {
            problems.push(format!("`iaemu {name}`: {f} is missing from the README's synopsis"));
        }
        for f in documented.difference(&actual) {
            problems.push(format!("`iaemu {name}`: the README's synopsis has {f}, which the command does not take"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn runnable_examples_run() {
    // Lines of the README's sh blocks that call the built command line with no placeholders:
    // each runs, with a small universe (--halos from a 60 Mpc/h box) where the example uses
    // the default one, and outputs into a scratch folder.
    let dir = scratch("examples");
    let halos = dir.join("u.npz");
    let o = iaemu(&["halos", "synth", "--box", "60", "--grid", "32", "--out", halos.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ran = 0;
    for (info, first, body) in blocks(&readme()) {
        if info != "sh" {
            continue;
        }
        for (k, line) in body.lines().enumerate() {
            let Some(rest) = line.trim().strip_prefix("target/release/iaemu ") else { continue };
            let command = rest.split(" #").next().unwrap();
            let mut args: Vec<String> = command.split_whitespace().map(|w| {
                if w.starts_with("target/") { dir.join(Path::new(w).file_name().unwrap()).to_string_lossy().into_owned() } else { w.to_string() }
            }).collect();
            if matches!(args[0].as_str(), "simulate" | "populate" | "generate" | "tabulate" | "expect")
                && !args.iter().any(|a| a == "--halos" || a == "--table")
            {
                args.extend(["--halos".to_string(), halos.to_string_lossy().into_owned()]);
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = iaemu(&refs);
            assert!(o.status.success(), "README line {}: `iaemu {}` failed: {}", first + k + 1, refs.join(" "), String::from_utf8_lossy(&o.stderr));
            ran += 1;
        }
    }
    assert!(ran >= 1, "no runnable example found");
}

/// Backticked names in the README bullet that starts with `marker` (up to the next bullet or
/// blank line): the keys it promises.
fn keys_after(text: &str, marker: &str) -> Vec<String> {
    let start = text.find(marker).unwrap_or_else(|| panic!("README: {marker:?} not found"));
    let rest = &text[start + marker.len()..];
    let end = rest.find("\n- ").into_iter().chain(rest.find("\n\n")).min().unwrap_or(rest.len());
    rest[..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| *w != "null" && !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .map(str::to_string)
        .collect()
}

#[test]
fn correlate_json_has_the_keys_the_readme_lists() {
    let dir = scratch("correlate");
    let csv = dir.join("w.csv");
    let mut rows = String::from("x,y,z,ex,ey,ez,w\n");
    for i in 0..400u64 {
        let f = |k: u64| ((i * 2654435761 + k * 40503) % 1000) as f64 / 1000.0;
        rows += &format!("{},{},{},{},{},{},{}\n", 50.0 * f(1), 50.0 * f(2), 50.0 * f(3), f(4) - 0.5, f(5) - 0.5, 0.3, 0.5 + f(6));
    }
    std::fs::write(&csv, rows).unwrap();
    let out = dir.join("r.json");
    let o = iaemu(&["correlate", "--catalog", csv.to_str().unwrap(), "--box", "50", "--edges", "1,2,4,8", "--jackknife", "2", "--covariance", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let keys = keys_after(&readme(), "Without `--out`, a table on stdout; with it, JSON with the keys");
    assert!(keys.len() >= 15, "{keys:?}");
    for k in &keys {
        assert!(j.get(k).is_some(), "README lists `{k}`, the JSON has no such key");
    }
    for k in j.as_object().unwrap().keys() {
        assert!(keys.contains(k), "the JSON has `{k}`, which the README does not list");
    }
    // Shapes: [B] per statistic, [3B][3B] covariance.
    let b = 3;
    for k in ["xi", "omega", "eta", "pairs", "weighted_pairs", "xi_var", "omega_var", "eta_var", "r_mid"] {
        assert_eq!(j[k].as_array().unwrap().len(), b, "{k}");
    }
    let cov = j["covariance"].as_array().unwrap();
    assert!(cov.len() == 3 * b && cov.iter().all(|r| r.as_array().unwrap().len() == 3 * b), "covariance is [3B][3B]");
}

#[cfg(feature = "emulator")]
#[test]
fn predict_json_has_the_keys_and_shapes_the_readme_lists() {
    let dir = scratch("predict");
    let text = readme();
    let mut keys = keys_after(&text, "`--out` writes JSON with");
    assert!(keys.len() >= 9, "{keys:?}");
    keys.extend(keys_after(&text, "`iaemu predict --jacobian --out F` adds it to the JSON as"));
    // "and likewise for omega and eta"
    for k in keys.clone() {
        if let Some(suffix) = k.strip_prefix("xi_") {
            keys.extend(["omega", "eta"].map(|s| format!("{s}_{suffix}")));
        }
    }
    let p = "0.8,0.8,12.02,0.26,11.38,13.31,1.06";
    for n in [1usize, 2] {
        let out = dir.join(format!("p{n}.json"));
        let mut args = vec!["predict", "--mc", "2", "--jacobian", "--out", out.to_str().unwrap()];
        for _ in 0..n {
            args.extend(["--params", p]);
        }
        let o = iaemu(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        for k in &keys {
            assert!(j.get(k).is_some(), "README lists `{k}`, the JSON has no such key");
        }
        for k in j.as_object().unwrap().keys() {
            assert!(keys.contains(k), "the JSON has `{k}`, which the README does not list");
        }
        // One shape for any n: [n][20] per statistic, [n] flags, [n][7] params,
        // [n][3][20][7] Jacobian.
        let len = |v: &serde_json::Value| v.as_array().map_or(usize::MAX, |a| a.len());
        for s in ["xi", "omega", "eta", "xi_aleatoric_var", "eta_epistemic_var"] {
            assert!(len(&j[s]) == n && j[s].as_array().unwrap().iter().all(|r| len(r) == 20), "{s} is not [{n}][20]");
        }
        assert_eq!(len(&j["flags"]), n);
        assert!(len(&j["params"]) == n && len(&j["params"][0]) == 7);
        let jac = &j["jacobian"];
        assert!(len(jac) == n && len(&jac[0]) == 3 && len(&jac[0][0]) == 20 && len(&jac[0][0][0]) == 7, "jacobian is not [{n}][3][20][7]");
        assert!(len(&j["jacobian_mean"]) == n && len(&j["jacobian_mean"][0]) == 3);
    }
}

#[test]
fn expect_json_has_the_keys_and_shapes_the_readme_lists() {
    let dir = scratch("expect");
    let halos = dir.join("u.npz");
    let o = iaemu(&["halos", "synth", "--box", "50", "--grid", "16", "--out", halos.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = dir.join("t.npz");
    let o = iaemu(&["tabulate", "--halos", halos.to_str().unwrap(), "--edges", "0.1,0.5,2,8", "--out", table.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = readme();
    let keys = keys_after(&text, "`iaemu expect --out` writes JSON with the keys");
    assert!(keys.len() >= 20, "{keys:?}");
    let p = "0.8,0.5,12.0,0.3,12.0,13.2,1.0";
    for n in [1usize, 2] {
        let out = dir.join(format!("e{n}.json"));
        let mut args = vec!["expect", "--table", table.to_str().unwrap(), "--parts", "--jacobian", "--out", out.to_str().unwrap()];
        for _ in 0..n {
            args.extend(["--params", p]);
        }
        let o = iaemu(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let mut found: Vec<String> = j.as_object().unwrap().keys().cloned().collect();
        for part in j["parts"].as_object().unwrap() {
            found.push(part.0.clone());
            found.extend(part.1.as_object().unwrap().keys().cloned());
        }
        for k in &keys {
            assert!(found.contains(k), "README lists `{k}`, the JSON has no such key");
        }
        for k in &found {
            assert!(keys.contains(k), "the JSON has `{k}`, which the README does not list");
        }
        let len = |v: &serde_json::Value| v.as_array().map_or(usize::MAX, |a| a.len());
        for s in ["xi", "omega", "eta"] {
            assert!(len(&j[s]) == n && j[s].as_array().unwrap().iter().all(|r| len(r) == 3), "{s} is not [{n}][3]");
            assert!(len(&j["parts"]["sat_sat_1h"][s]) == n, "parts.{s} is not [{n}][3]");
        }
        assert!(len(&j["params"]) == n && len(&j["params"][0]) == 7 && len(&j["n_galaxies"]) == n);
        let jac = &j["jacobian"];
        assert!(len(jac) == n && len(&jac[0]) == 3 && len(&jac[0][0]) == 3 && len(&jac[0][0][0]) == 7, "jacobian is not [{n}][3][3][7]");
    }
    // A table that does not fit the request, and a file that is not a table.
    let o = iaemu(&["expect", "--table", table.to_str().unwrap(), "--edges", "0.1,1,10", "--params", p]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("bin edges"));
    let o = iaemu(&["expect", "--table", halos.to_str().unwrap(), "--params", p]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not an iaemu table"));
    let o = iaemu(&["tabulate", "--halos", halos.to_str().unwrap(), "--out", dir.join("t.txt").to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(".npz"));
}

#[test]
fn c_programs_compile_and_run_as_written() {
    // Built the way the README says (`cc -Iinclude prog.c -L<lib> -liaemu -Wl,-rpath,<lib>`),
    // against the library of this build (target/release, or target/lite/release).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    if !lib.join("libiaemu.so").exists() || Command::new("cc").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no {} or no cc (scripts/setup.sh builds the library)", lib.join("libiaemu.so").display());
        return;
    }
    let dir = scratch("c");
    let mut ran = 0;
    for (info, first, body) in blocks(&readme()) {
        if info != "c" {
            continue;
        }
        let src = dir.join(format!("line{first}.c"));
        std::fs::write(&src, &body).unwrap();
        let exe = dir.join(format!("line{first}"));
        let o = Command::new("cc")
            .args(["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror"])
            .arg(format!("-I{}", root.join("include").display()))
            .arg(&src)
            .arg(format!("-L{}", lib.display()))
            .arg("-liaemu")
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-o")
            .arg(&exe)
            .output()
            .unwrap();
        assert!(o.status.success(), "README line {first}: the C block does not compile:\n{}", String::from_utf8_lossy(&o.stderr));
        let o = Command::new(&exe).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "README line {first}: the C program failed: {}", String::from_utf8_lossy(&o.stderr));
        ran += 1;
    }
    assert!(ran >= 2, "{ran} C blocks");
}
