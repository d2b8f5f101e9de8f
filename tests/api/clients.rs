//! The OpenAPI spec as a contract: clients generated from `openapi/openapi.yaml` at test time,
//! with no hand edits, run the admin and user scenario against the real server. TypeScript:
//! openapi-typescript + openapi-fetch, type-checked with `tsc` before it runs; and the SDK of
//! @hey-api/openapi-ts, which also runs the client app's OAuth calls with every credential given
//! to the SDK's own auth setting, compiled to ES modules that Node runs as they are. Python:
//! openapi-python-client, which refuses (`--fail-on-warning`) a spec it cannot fully turn into
//! code, likewise with its own auth settings. The scenarios live in `tests/clients/`; `scripts/test` installs the tools
//! (`npm ci --prefix tests/clients`, and a Python venv from `tests/clients/requirements.txt`).
//! A missing tool fails these tests; it never skips them.
use std::{path::PathBuf, process::Command};

use crate::helpers::{BOOTSTRAP_ADMIN_PASSWORD, Backend, PASSWORD, TestApp};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a tool to completion and fails the test with its output if it fails or is missing.
pub(crate) fn run_tool(what: &str, cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start {:?}: {e}", cmd.get_program()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

/// What each scenario needs to reach the server, plus a tenant of its own.
fn scenario_env(app: &TestApp, tenant: &str) -> [(&'static str, String); 4] {
    [
        ("GATEHOUSE_URL", app.address.clone()),
        ("GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD", BOOTSTRAP_ADMIN_PASSWORD.into()),
        ("TENANT", tenant.into()),
        ("PASSWORD", PASSWORD.into()),
    ]
}

fn spec() -> PathBuf {
    root().join("openapi/openapi.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_typescript_client_runs_the_admin_and_user_scenario() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let dir = node_project("tests/clients", "openapi-fetch");
    let env = scenario_env(&app, "ts-client");
    tokio::task::spawn_blocking(move || {
        let bin = |tool: &str| dir.join("node_modules/.bin").join(tool);
        run_tool(
            "openapi-typescript",
            Command::new("node")
                .arg(bin("openapi-typescript"))
                .arg(spec())
                // Request fields with a default are optional to send; v7 would make them required.
                .args(["--default-non-nullable", "false", "-o", "ts/generated/schema.d.ts"])
                .current_dir(&dir),
        );
        run_tool(
            "tsc (the scenario against the generated types)",
            Command::new("node").arg(bin("tsc")).args(["-p", "ts"]).current_dir(&dir),
        );
        let out = run_tool(
            "the TypeScript scenario",
            Command::new("node").arg("ts/build/scenario.js").envs(env).current_dir(&dir),
        );
        assert!(out.contains("typescript client: ok"), "{out}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hey_api_sdk_runs_the_scenario_with_its_own_auth_settings_as_node_es_modules() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let dir = node_project("tests/clients", "@hey-api/openapi-ts");
    let env = scenario_env(&app, "hey-api-client");
    tokio::task::spawn_blocking(move || {
        let bin = |tool: &str| dir.join("node_modules/.bin").join(tool);
        let project = dir.join("hey-api");
        let _ = std::fs::remove_dir_all(project.join("generated"));
        run_tool(
            "@hey-api/openapi-ts",
            Command::new("node")
                .arg(bin("openapi-ts"))
                .args(["-f", "openapi-ts.config.mjs"])
                .current_dir(&project),
        );
        // The generated code: nothing renamed to dodge a clash, imports that Node resolves.
        let sdk = std::fs::read_to_string(project.join("generated/sdk.gen.ts")).unwrap();
        let types = std::fs::read_to_string(project.join("generated/types.gen.ts")).unwrap();
        for line in types.lines().filter(|l| l.starts_with("export type ")) {
            let name = line["export type ".len()..].split([' ', '<', '=']).next().unwrap();
            assert!(!name.ends_with(|c: char| c.is_ascii_digit()), "a renamed type: {line}");
        }
        for import in sdk.lines().filter(|l| l.starts_with("import ")) {
            assert!(import.contains(".js'"), "not a Node ES module import: {import}");
        }
        run_tool(
            "tsc (the scenario against the generated SDK)",
            Command::new("node").arg(bin("tsc")).args(["-p", "hey-api"]).current_dir(&dir),
        );
        let out = run_tool(
            "the hey-api scenario",
            Command::new("node").arg("hey-api/build/scenario.js").envs(env).current_dir(&dir),
        );
        assert!(out.contains("hey-api client: ok"), "{out}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_python_client_runs_the_admin_and_user_scenario() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let dir = root().join("tests/clients/python");
    let env = scenario_env(&app, "py-client");
    tokio::task::spawn_blocking(move || {
        let generated = dir.join("generated");
        run_tool(
            "openapi-python-client (scripts/test installs it into .venv)",
            Command::new("python3")
                .args([
                    "-m",
                    "openapi_python_client",
                    "generate",
                    "--meta",
                    "none",
                    "--overwrite",
                    "--fail-on-warning",
                ])
                .arg("--path")
                .arg(spec())
                .arg("--output-path")
                .arg(generated.join("gatehouse_client")),
        );
        let out = run_tool(
            "the Python scenario",
            Command::new("python3").arg(dir.join("scenario.py")).env("PYTHONPATH", &generated).envs(env),
        );
        assert!(out.contains("python client: ok"), "{out}");
    })
    .await
    .unwrap();
}

/// The directory of a Node program, with its packages installed.
pub(crate) fn node_project(path: &str, package: &str) -> PathBuf {
    let dir = root().join(path);
    assert!(
        dir.join("node_modules").join(package).exists(),
        "{path} has no node_modules: run `npm ci --prefix {path}` (scripts/test does)"
    );
    dir
}
