//! The deployable packages from `make package`: layout and modes inside each zip, and an
//! unzipped package starting on a bare machine with nothing but its port.

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Where `make package` left the zips (`make test` says so through BCDR_DIST).
fn dist() -> PathBuf {
    let dist = std::env::var("BCDR_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist")));
    assert!(
        dist.join("health-check.zip").exists(),
        "no packages in {}: run `make package` (or `make test`) first",
        dist.display()
    );
    dist
}

fn open(app: &str) -> zip::ZipArchive<std::fs::File> {
    let file = std::fs::File::open(dist().join(format!("{app}.zip"))).unwrap();
    zip::ZipArchive::new(file).unwrap()
}

/// Lists `name mode` for each file in the zip, sorted.
fn listing(app: &str) -> Vec<String> {
    let mut zip = open(app);
    let mut out: Vec<String> = (0..zip.len())
        .map(|i| {
            let f = zip.by_index(i).unwrap();
            format!("{} {:o}", f.name(), f.unix_mode().unwrap_or(0) & 0o777)
        })
        .filter(|l| !l.ends_with("/ 755") && !l.contains("/ "))
        .collect();
    out.sort();
    out
}

#[test]
fn the_health_check_zip_has_the_function_app_layout() {
    assert_eq!(
        listing("health-check"),
        ["failover-plan.json 644", "handler 755", "health/function.json 644", "host.json 644"]
    );
    let mut zip = open("health-check");
    let mut host = String::new();
    zip.by_name("host.json").unwrap().read_to_string(&mut host).unwrap();
    let host: Value = serde_json::from_str(&host).unwrap();
    assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], "handler");
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    let mut plan = String::new();
    zip.by_name("failover-plan.json").unwrap().read_to_string(&mut plan).unwrap();
    bcdr_core::plan::FailoverPlan::from_json(&plan).expect("the packaged plan is valid");
    // A static executable: it must run on the Functions host without any shared library.
    let mut head = [0u8; 4];
    zip.by_name("handler").unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head, b"\x7fELF");
}

#[test]
fn the_watchdog_zip_has_the_function_app_layout() {
    assert_eq!(
        listing("watchdog"),
        [
            "badge/function.json 644",
            "failover-plan.json 644",
            "handler 755",
            "host.json 644",
            "monitor/function.json 644",
            "status/function.json 644",
            "watchdog/function.json 644"
        ]
    );
    let mut zip = open("watchdog");
    let mut timer = String::new();
    zip.by_name("watchdog/function.json").unwrap().read_to_string(&mut timer).unwrap();
    let timer: Value = serde_json::from_str(&timer).unwrap();
    assert_eq!(timer["bindings"][0]["type"], "timerTrigger");
    assert_eq!(timer["bindings"][0]["schedule"], "%BCDR_WATCHDOG_SCHEDULE%");
}

#[test]
fn the_activation_zip_has_the_function_app_layout() {
    assert_eq!(
        listing("activation"),
        [
            "activate/function.json 644",
            "failover-plan.json 644",
            "handler 755",
            "host.json 644",
            "ready/function.json 644"
        ]
    );
}

#[test]
fn an_unzipped_package_starts_with_only_its_port() {
    let dir = std::env::temp_dir().join(format!("bcdr-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    open("health-check").extract(&dir).unwrap();
    // A private network namespace: the packaged plan names real Azure hosts, which must fail
    // fast and locally rather than be looked up.
    let out = Command::new("unshare")
        .args(["-n", env!("CARGO_BIN_EXE_package-probe")])
        .arg(&dir)
        .output()
        .expect("run unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "probe failed: {}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["ready"], true, "{result}");
    assert_eq!(result["health_status"], 503, "{result}");
    assert_eq!(result["report"]["status"], "unhealthy");
    assert_eq!(result["alive_after"], true, "the handler must survive unreachable targets");
    let reasons: Vec<String> = result["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}: {}", c["name"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("order-intake: no token for ARM: no managed identity")),
        "{reasons:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Lambda package: `bootstrap` (mode 0755, as `provided.al2023` runs it) and the plan beside
/// it, nothing else. The executable is a static x86_64 ELF: no interpreter, no shared library.
#[test]
fn the_lambda_zip_has_the_provided_runtime_layout() {
    assert_eq!(listing("watchdog-lambda"), ["bootstrap 755", "failover-plan.json 644"]);
    let mut zip = open("watchdog-lambda");
    let mut bootstrap = Vec::new();
    zip.by_name("bootstrap").unwrap().read_to_end(&mut bootstrap).unwrap();
    assert_eq!(&bootstrap[..4], b"\x7fELF");
    // e_machine: 0x3e is x86-64, the architecture infra/aws/ declares.
    assert_eq!(u16::from_le_bytes([bootstrap[18], bootstrap[19]]), 0x3e);
    // No PT_INTERP program header: nothing to load before it runs.
    let (phoff, phentsize, phnum) = (
        u64::from_le_bytes(bootstrap[32..40].try_into().unwrap()) as usize,
        u16::from_le_bytes([bootstrap[54], bootstrap[55]]) as usize,
        u16::from_le_bytes([bootstrap[56], bootstrap[57]]) as usize,
    );
    let types: Vec<u32> = (0..phnum)
        .map(|i| {
            let at = phoff + i * phentsize;
            u32::from_le_bytes(bootstrap[at..at + 4].try_into().unwrap())
        })
        .collect();
    assert!(!types.contains(&3), "bootstrap asks for an interpreter (dynamically linked): {types:?}");
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/aws/watchdog-lambda.yaml")).unwrap();
    assert!(template.contains("Architectures: [x86_64]") && template.contains("Runtime: provided.al2023"));
    let mut plan = String::new();
    zip.by_name("failover-plan.json").unwrap().read_to_string(&mut plan).unwrap();
    bcdr_core::plan::FailoverPlan::from_json(&plan).expect("the packaged plan is valid");
}
