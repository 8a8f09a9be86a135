//! The README's "use it in your own crate" recipe, taken from the README
//! itself: its `Cargo.toml` lines and `src/main.rs` become a crate outside
//! the workspace (the path pointed at this checkout), which must build
//! offline and run. A README that stops compiling fails here.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The code block that follows the marker `<!-- user-crate:NAME -->`.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- user-crate:{name} -->");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker}"));
    let rest = &readme[start + marker.len()..];
    let open = rest.find("```").expect("a code block after the marker");
    let body = &rest[open..];
    let first_nl = body.find('\n').unwrap();
    let end = body[first_nl..].find("\n```").unwrap();
    body[first_nl + 1..first_nl + end + 1].to_string()
}

#[test]
fn the_readme_recipe_builds_and_runs_in_a_fresh_crate() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let deps = block(&readme, "Cargo.toml");
    let main = block(&readme, "main.rs");
    assert!(
        deps.contains("lecture-grad = { path = \"../lecture-grad\" }"),
        "{deps}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let krate = tmp.path().join("my-model");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let deps = deps.replace("../lecture-grad", &root.display().to_string());
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"my-model\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             # not part of any enclosing workspace\n[workspace]\n\n{deps}"
        ),
    )
    .unwrap();
    std::fs::write(krate.join("src/main.rs"), &main).unwrap();
    // every other marked program (the README's "From PyTorch" one, ...)
    let bins: Vec<(String, String)> = readme
        .match_indices("<!-- user-crate:src/bin/")
        .map(|(i, _)| {
            let name = readme[i + "<!-- user-crate:".len()..]
                .split(" -->")
                .next()
                .unwrap();
            (name.to_string(), block(&readme, name))
        })
        .collect();
    assert!(
        !bins.is_empty(),
        "the README's From PyTorch program is marked"
    );
    std::fs::create_dir_all(krate.join("src/bin")).unwrap();
    for (path, code) in &bins {
        std::fs::write(krate.join(path), code).unwrap();
    }
    // the workspace's lock file, so that the offline build takes the
    // versions already downloaded
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // its own target folder under ours: built once, then reused
    let target = root.join("target").join("user-crate");
    // runs one binary of the crate: (succeeded, stdout + stderr)
    let run = |bin: &str| {
        let out = Command::new(&cargo)
            .args(["run", "--offline", "--quiet", "--bin", bin])
            .current_dir(&krate)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    // the number after `prefix` on the line that starts with it
    let number_after = |text: &str, prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no line starting {prefix:?}: {text}"))
    };

    let (ok, text) = run("my-model");
    assert!(ok, "the README's crate failed:\n{text}");
    let losses: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("loss ").nth(1)?.trim().parse().ok())
        .collect();
    assert_eq!(losses.len(), 5, "{text}");
    assert!(
        losses[4] < losses[0],
        "the README's model did not learn: {text}"
    );
    assert!(Path::new(&krate.join("fc.safetensors")).exists());

    // the spiral: it must learn the three arms
    let (ok, text) = run("spiral");
    assert!(ok, "the README's spiral failed:\n{text}");
    let acc = number_after(&text, "training accuracy ");
    assert!(acc > 0.9, "the spiral was not learned: {text}");

    // the custom op: gradcheck passes and the gradient of sum(x^3) is 3x^2
    let (ok, text) = run("cube");
    assert!(ok, "the README's custom op failed:\n{text}");
    assert!(text.contains("gradcheck true"), "{text}");
    let grad_line = text
        .lines()
        .find(|l| l.starts_with("grad "))
        .expect("a grad line");
    let printed: Vec<f64> = grad_line
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .filter_map(|w| w.parse().ok())
        .collect();
    let x = autograd::Tensor::<f64>::randn(&[5], 0.0, 1.0, &mut ChaCha8Rng::seed_from_u64(0));
    let want: Vec<f64> = x.data().iter().map(|v| 3.0 * v * v).collect();
    let got = &printed[printed.len() - 5..];
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-4 * w.abs().max(1.0),
            "{grad_line} vs {want:?}"
        );
    }

    // the ConvNet: trained, saved, loaded into a fresh model, evaluated
    let (ok, text) = run("convnet");
    assert!(ok, "the README's ConvNet failed:\n{text}");
    let acc = number_after(&text, "reloaded training accuracy ");
    assert!(
        acc > 0.9,
        "the reloaded ConvNet did not fit its 64 images: {text}"
    );
}

/// The "From PyTorch" pairs: each Rust program marked `src/bin/...` follows
/// its PyTorch program; the Rust one must be at most 1.3x as many non-blank
/// lines, neither side may hide code in lines past 110 characters, and the
/// README's sentence after the pair must state the counted numbers.
#[test]
fn the_from_pytorch_programs_are_at_most_1_3x_pytorchs_lines() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut pairs = 0;
    for (i, _) in readme.match_indices("<!-- user-crate:src/bin/") {
        let name = readme[i + "<!-- user-crate:".len()..]
            .split(" -->")
            .next()
            .unwrap();
        let rust = block(&readme, name);
        let py_start = readme[..i]
            .rfind("```python\n")
            .expect("a PyTorch program before it");
        let py_body = &readme[py_start + "```python\n".len()..];
        let python = &py_body[..py_body.find("\n```").unwrap() + 1];
        let count = |code: &str| code.lines().filter(|l| !l.trim().is_empty()).count();
        let (p, r) = (count(python), count(&rust));
        for line in python.lines().chain(rust.lines()) {
            assert!(
                line.chars().count() <= 110,
                "{name}: line over 110 characters: {line}"
            );
        }
        assert!(r * 10 <= p * 13, "{name}: {r} lines against PyTorch's {p}");
        let after = &readme[i..];
        let sentence = &after[after
            .find("The PyTorch program is ")
            .expect("a count sentence")..];
        let claim = format!("The PyTorch program is {p} non-blank lines, this one {r} (");
        assert!(
            sentence.starts_with(&claim),
            "{name}: the README should say {claim:?}"
        );
        pairs += 1;
    }
    assert_eq!(pairs, 3, "spiral, ConvNet and custom op");
}
