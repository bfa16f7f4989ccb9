//! The environment and working directory a plugin process starts with.

use std::collections::BTreeMap;

use hookwire::external::__launch::spawn;
use hookwire::external::protocol::PLUGIN_ENV;
use hookwire::external::{LaunchError, LaunchSpec, ENV_ALLOW_LIST};

use crate::support::{plugin_folder, run, write_script};

#[tokio::test]
async fn the_environment_is_cleared_except_the_allow_list_the_spec_env_and_the_marker() {
    let host: BTreeMap<String, String> = std::env::vars().collect();
    assert!(
        host.keys().any(|k| !ENV_ALLOW_LIST.contains(&k.as_str())),
        "the test needs a host variable outside the allow-list (cargo sets CARGO_*)"
    );
    let folder = plugin_folder();
    let spec = LaunchSpec::new("env", folder.path())
        .env("PLUGIN_SETTING", "on")
        // The marker cannot be overridden by the spec.
        .env(PLUGIN_ENV, "0");
    let done = run(&spec).await;
    assert!(done.status.success(), "{done:?}");
    let seen: BTreeMap<String, String> = done
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut expected: BTreeMap<String, String> = host
        .into_iter()
        .filter(|(k, _)| ENV_ALLOW_LIST.contains(&k.as_str()))
        .collect();
    expected.insert("PLUGIN_SETTING".into(), "on".into());
    expected.insert("HOOKWIRE_PLUGIN".into(), "1".into());
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_working_directory_is_the_plugin_folder() {
    let folder = plugin_folder();
    let done = run(&LaunchSpec::new("sh", folder.path()).args(["-c", "pwd -P"])).await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        done.stdout.trim(),
        folder.path().canonicalize().unwrap().to_str().unwrap()
    );
}

#[tokio::test]
async fn a_relative_program_path_is_relative_to_the_plugin_folder() {
    let folder = plugin_folder();
    write_script(
        &folder.path().join("plugin.sh"),
        "#!/bin/sh\necho from-the-folder\n",
    );
    let done = run(&LaunchSpec::new("./plugin.sh", folder.path())).await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(done.stdout, "from-the-folder\n");
}

#[tokio::test]
async fn stdin_stdout_and_stderr_are_piped() {
    use tokio::io::AsyncWriteExt;
    let folder = plugin_folder();
    let spec = LaunchSpec::new("sh", folder.path())
        .args(["-c", "read line; echo \"out:$line\"; echo err >&2"]);
    let mut child = spawn(&spec).unwrap();
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"hello\n").await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "out:hello\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "err\n");
}

#[tokio::test]
async fn a_missing_program_is_a_start_error_naming_the_program_and_the_folder() {
    let folder = plugin_folder();
    let err = spawn(&LaunchSpec::new("no-such-plugin-program", folder.path())).unwrap_err();
    assert!(matches!(err, LaunchError::Spawn { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot start `no-such-plugin-program` in `{}`: ",
            folder.path().display()
        )),
        "{message}"
    );
    assert!(message.contains("check the command"), "{message}");
}

#[tokio::test]
async fn a_missing_folder_is_an_error_naming_it() {
    let folder = plugin_folder();
    let missing = folder.path().join("gone");
    let err = spawn(&LaunchSpec::new("sh", &missing)).unwrap_err();
    assert!(matches!(err, LaunchError::Folder { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "the plugin folder `{}` cannot be the working directory",
            missing.display()
        )),
        "{err}"
    );
}
