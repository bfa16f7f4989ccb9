//! Resource limits bind in the plugin process, and an exit is explained by them.

use std::os::unix::process::ExitStatusExt;

use hookwire::external::{describe_exit, LaunchSpec, ResourceLimits};

use crate::support::{plugin_folder, process_spec, run};

/// ~1 s of real CPU: the one test that burns it.
#[tokio::test]
async fn a_cpu_burning_child_under_cpu_seconds_dies_by_sigxcpu_and_the_message_names_the_cpu_limit()
{
    let folder = plugin_folder();
    let process = process_spec(
        "[process]\ncommand = [\"sh\", \"-c\", \"while :; do :; done\"]\n[process.limits]\ncpu_seconds = 1\n",
    );
    let spec = LaunchSpec::from_manifest(&process, folder.path());
    let done = run(&spec).await;
    assert_eq!(done.status.signal(), Some(24), "SIGXCPU; {done:?}");
    assert_eq!(
        describe_exit(done.status, &spec.limits),
        "was killed by SIGXCPU: it used its CPU time limit of 1 s"
    );
}

const ALLOCATE_200_MIB: &str = "x = bytearray(200 * 1024 * 1024)\nprint('allocated')\n";

#[tokio::test]
async fn a_python_child_allocating_200_mib_under_memory_mb_64_fails_and_the_message_names_the_memory_limit(
) {
    let folder = plugin_folder();
    std::fs::write(folder.path().join("main.py"), ALLOCATE_200_MIB).unwrap();
    let process = process_spec(
        "[process]\ncommand = [\"python3\", \"main.py\"]\n[process.limits]\nmemory_mb = 64\n",
    );
    let spec = LaunchSpec::from_manifest(&process, folder.path());
    let done = run(&spec).await;
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(done.stderr.contains("MemoryError"), "{}", done.stderr);
    assert_eq!(
        describe_exit(done.status, &spec.limits),
        "exited with status 1 while limited to 64 MiB of address space; it may have run out of memory"
    );
}

#[tokio::test]
async fn the_same_allocation_succeeds_under_a_larger_memory_limit() {
    let folder = plugin_folder();
    std::fs::write(folder.path().join("main.py"), ALLOCATE_200_MIB).unwrap();
    let spec = LaunchSpec::new("python3", folder.path())
        .arg("main.py")
        .limits(ResourceLimits::new().address_space_mib(1024));
    let done = run(&spec).await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(done.stdout, "allocated\n");
}

#[tokio::test]
async fn open_files_binds_soft_and_hard() {
    let folder = plugin_folder();
    let script = "import os, resource\nopened = 0\ntry:\n    while opened < 100:\n        os.open('/dev/null', os.O_RDONLY)\n        opened += 1\nexcept OSError as e:\n    print(e.errno)\nprint(*resource.getrlimit(resource.RLIMIT_NOFILE))\n";
    let spec = LaunchSpec::new("python3", folder.path())
        .args(["-c", script])
        .limits(ResourceLimits::new().open_files(16));
    let done = run(&spec).await;
    assert!(done.status.success(), "{done:?}");
    // EMFILE, and the limit is 16 soft and hard (the plugin cannot raise it).
    assert_eq!(done.stdout, "24\n16 16\n");
}

#[tokio::test]
async fn without_limits_the_host_limits_stay() {
    let folder = plugin_folder();
    let spec = LaunchSpec::new("sh", folder.path()).args(["-c", "ulimit -t; ulimit -v"]);
    let done = run(&spec).await;
    assert!(done.status.success(), "{done:?}");
    let host = std::process::Command::new("sh")
        .args(["-c", "ulimit -t; ulimit -v"])
        .output()
        .unwrap();
    assert_eq!(done.stdout, String::from_utf8_lossy(&host.stdout));
}

#[cfg(unix)]
#[test]
fn an_exit_is_described_by_its_code_or_signal_and_the_limits_it_ran_under() {
    use std::process::ExitStatus;
    let none = ResourceLimits::new();
    let cpu = ResourceLimits::new().cpu_seconds(5);
    let memory = ResourceLimits::new().address_space_mib(64);
    let exited = |code: i32| ExitStatus::from_raw(code << 8);
    let killed = ExitStatus::from_raw;
    assert_eq!(describe_exit(exited(0), &memory), "exited with status 0");
    assert_eq!(describe_exit(exited(3), &none), "exited with status 3");
    assert_eq!(describe_exit(exited(3), &cpu), "exited with status 3");
    assert_eq!(
        describe_exit(exited(3), &memory),
        "exited with status 3 while limited to 64 MiB of address space; it may have run out of memory"
    );
    let files = ResourceLimits::new().open_files(3);
    assert_eq!(
        describe_exit(exited(127), &files),
        "exited with status 127 while limited to 3 open files; it may have run out of file descriptors"
    );
    assert_eq!(describe_exit(exited(0), &files), "exited with status 0");
    assert_eq!(
        describe_exit(exited(1), &ResourceLimits::new().address_space_mib(64).open_files(3)),
        "exited with status 1 while limited to 64 MiB of address space and 3 open files; it may have run out of memory or file descriptors"
    );
    assert_eq!(describe_exit(killed(15), &cpu), "was killed by SIGTERM");
    assert_eq!(describe_exit(killed(24), &none), "was killed by SIGXCPU");
    assert_eq!(
        describe_exit(killed(24), &cpu),
        "was killed by SIGXCPU: it used its CPU time limit of 5 s"
    );
    assert_eq!(
        describe_exit(killed(9), &cpu),
        "was killed by SIGKILL; it may have reached its CPU time hard limit of 6 s"
    );
    assert_eq!(describe_exit(killed(9), &none), "was killed by SIGKILL");
    assert_eq!(
        describe_exit(killed(6), &memory),
        "was killed by SIGABRT while limited to 64 MiB of address space; it may have run out of memory"
    );
    assert_eq!(describe_exit(killed(11), &none), "was killed by SIGSEGV");
    assert_eq!(describe_exit(killed(64), &none), "was killed by signal 64");
}
