//! Compiles the probes (probes/agent.bpf.c) into a BPF object the agent embeds. They need
//! clang with the BPF target and libbpf's headers (Debian: clang-19 libbpf-dev); without them
//! the rest of bytefreezer still builds, and `bytefreezer agent` says what to install.

use std::path::PathBuf;
use std::process::Command;

const CLANGS: [&str; 4] = ["clang-19", "clang-20", "clang-18", "clang"];

fn main() {
    println!("cargo:rerun-if-changed=probes/agent.bpf.c");
    println!("cargo:rerun-if-changed=probes/records.h");
    println!("cargo:rerun-if-env-changed=BYTEFREEZER_BPF_CLANG");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("agent.bpf.o");
    let missing = match compile(&object) {
        Ok(()) => String::new(),
        Err(why) => {
            std::fs::write(&object, b"").expect("OUT_DIR is writable");
            println!("cargo:warning=bytefreezer agent built without its eBPF probes: {why}");
            why
        }
    };
    println!("cargo:rustc-env=BYTEFREEZER_PROBES_MISSING={missing}");
}

/// What the probes need, watched so that installing it later rebuilds them (cargo reruns a
/// build script whose watched file does not exist yet on every build).
const LIBBPF_HEADER: &str = "/usr/include/bpf/bpf_helpers.h";

fn compile(object: &std::path::Path) -> Result<(), String> {
    println!("cargo:rerun-if-changed={LIBBPF_HEADER}");
    if !std::path::Path::new(LIBBPF_HEADER).exists() {
        return Err("libbpf's headers are missing (apt-get install libbpf-dev)".into());
    }
    let clang = match std::env::var("BYTEFREEZER_BPF_CLANG") {
        Ok(clang) => clang,
        Err(_) => CLANGS
            .iter()
            .find(|name| {
                Command::new(name)
                    .arg("--version")
                    .output()
                    .is_ok_and(|out| out.status.success())
            })
            .ok_or_else(|| {
                println!("cargo:rerun-if-changed=/usr/bin/clang-19");
                "no clang found (apt-get install clang-19)"
            })?
            .to_string(),
    };
    let arch_include = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    let output = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-I{arch_include}"))
        .arg("-c")
        .arg("probes/agent.bpf.c")
        .arg("-o")
        .arg(object)
        .output()
        .map_err(|error| format!("cannot run {clang}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{clang} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}
