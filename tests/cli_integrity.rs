//! `hookwire keys generate`, `hookwire plugins sign`, `hookwire plugins verify`: the real binary
//! on real folders (output, files written, exit codes).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use hookwire::security::{sha256_hex, PrivateKey, PublicKey, SIGNATURE_FILE};
use tempfile::TempDir;

fn hookwire() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookwire"))
}

fn sha(bytes: &[u8]) -> String {
    sha256_hex(bytes).unwrap()
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, String, String) {
    let out = hookwire()
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A plugin folder `root/plugins/<name>` running `sh main.sh`, `main.sh` pinned.
fn plugin(root: &Path, name: &str) -> PathBuf {
    let dir = root.join("plugins").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.sh"), "echo hi\n").unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        format!(
            "name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"sh\", \"main.sh\"]\n[sha256]\n\"main.sh\" = \"{}\"\n",
            sha(b"echo hi\n")
        ),
    )
    .unwrap();
    dir
}

/// `keys generate --out root/<file>`: the key's path.
fn generate(root: &TempDir, file: &str) -> PathBuf {
    let key = root.path().join(file);
    let (code, _, err) = run(&[&"keys", &"generate", &"--out", &key]);
    assert_eq!(code, 0, "{err}");
    key
}

#[test]
fn keys_generate_writes_an_owner_only_key_and_prints_the_public_key_and_id() {
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("release.key");
    let (code, out, err) = run(&[&"keys", &"generate", &"--out", &key]);
    assert_eq!(code, 0, "{err}");
    let private = PrivateKey::read(&key).unwrap();
    let public = private.public_key();
    let pub_file = root.path().join("release.key.pub");
    assert_eq!(
        out,
        format!(
            "private key: {} (mode 0600: keep it secret, out of plugin folders)\npublic key:  {} (also in {})\nkey id:      {}\ntrust it in the host's config: [security] trusted_keys = [\"{}\"]\n",
            key.display(),
            public.to_base64(),
            pub_file.display(),
            public.id(),
            public.to_base64()
        )
    );
    assert_eq!(PublicKey::read(&pub_file).unwrap(), public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Never overwritten.
    let (code, out, err) = run(&[&"keys", &"generate", &"--out", &key]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!("error: {}: exists already; a key file is never overwritten (choose another --out, or remove the old key if it is no longer needed)\n", key.display())
    );
    assert_eq!(PrivateKey::read(&key).unwrap().public_key(), public);
}

#[test]
fn plugins_sign_writes_the_signature_and_verify_accepts_it() {
    let root = tempfile::tempdir().unwrap();
    let key = generate(&root, "k");
    let dir = plugin(root.path(), "echo");
    let id = PrivateKey::read(&key).unwrap().public_key().id().clone();
    let (code, out, err) = run(&[&"plugins", &"sign", &dir, &"--key", &key]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "signed {} with key {id}: wrote {}\n",
            dir.join("plugin.toml").display(),
            dir.join(SIGNATURE_FILE).display()
        )
    );
    assert!(std::fs::read_to_string(dir.join(SIGNATURE_FILE))
        .unwrap()
        .starts_with(&format!("key-id: {id}\nsignature: ")));
    // A folder of plugin folders, the key given as its .pub file.
    let pub_file = root.path().join("k.pub");
    let (code, out, err) = run(&[
        &"plugins",
        &"verify",
        &root.path().join("plugins"),
        &"--trusted-key",
        &pub_file,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!(
            "ok    {}: signed by {id}, 1 pinned file matches\n1 passed, 0 failed\n",
            dir.display()
        )
    );
    // The key given as text, the plugin folder itself.
    let text = std::fs::read_to_string(&pub_file).unwrap();
    let (code, _, _) = run(&[&"plugins", &"verify", &dir, &"--trusted-key", &text.trim()]);
    assert_eq!(code, 0);
}

#[test]
fn plugins_verify_prints_every_problem_and_exits_1() {
    let root = tempfile::tempdir().unwrap();
    let trusted = generate(&root, "trusted");
    let stranger = generate(&root, "stranger");
    let good = plugin(root.path(), "good");
    let unsigned = plugin(root.path(), "unsigned");
    let foreign = plugin(root.path(), "foreign");
    let changed = plugin(root.path(), "changed");
    let gone = plugin(root.path(), "gone");
    for (dir, key) in [
        (&good, &trusted),
        (&foreign, &stranger),
        (&changed, &trusted),
        (&gone, &trusted),
    ] {
        let (code, _, err) = run(&[&"plugins", &"sign", dir, &"--key", key]);
        assert_eq!(code, 0, "{err}");
    }
    std::fs::write(changed.join("main.sh"), "rm -rf ~\n").unwrap();
    std::fs::remove_file(gone.join("main.sh")).unwrap();
    let trusted_id = PrivateKey::read(&trusted)
        .unwrap()
        .public_key()
        .id()
        .clone();
    let stranger_id = PrivateKey::read(&stranger)
        .unwrap()
        .public_key()
        .id()
        .clone();
    let (code, out, _) = run(&[
        &"plugins",
        &"verify",
        &root.path().join("plugins"),
        &"--trusted-key",
        &root.path().join("trusted.pub"),
    ]);
    assert_eq!(code, 1, "{out}");
    let expected = [
        format!(
            "FAIL  {}: main.sh: sha256 is {}, but plugin.toml pins {}; the file changed after it was pinned: restore it, or pin the new file (and sign the manifest again)",
            changed.display(),
            sha(b"rm -rf ~\n"),
            sha(b"echo hi\n")
        ),
        format!(
            "FAIL  {}: {}: signed by key {stranger_id}, which this host does not trust; add its public key to `[security] trusted_keys`, or sign with a trusted key",
            foreign.display(),
            foreign.join(SIGNATURE_FILE).display()
        ),
        format!(
            "FAIL  {}: main.sh: pinned in plugin.toml but missing ({}); restore it or remove its pin",
            gone.display(),
            gone.join("main.sh").display()
        ),
        format!("ok    {}: signed by {trusted_id}, 1 pinned file matches", good.display()),
        format!(
            "FAIL  {}: {}: missing; this host requires signed plugins: sign it with `hookwire plugins sign <dir> --key <file>`",
            unsigned.display(),
            unsigned.join(SIGNATURE_FILE).display()
        ),
        "1 passed, 4 failed".to_owned(),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn plugins_verify_rejects_a_signature_of_the_wrong_length_and_one_over_another_file() {
    let root = tempfile::tempdir().unwrap();
    let key = generate(&root, "k");
    let short = plugin(root.path(), "short");
    let copied = plugin(root.path(), "copied");
    let other = plugin(root.path(), "other");
    let id = PrivateKey::read(&key).unwrap().public_key().id().clone();
    std::fs::write(
        short.join(SIGNATURE_FILE),
        format!("key-id: {id}\nsignature: AAAA\n"),
    )
    .unwrap();
    let (code, _, _) = run(&[&"plugins", &"sign", &other, &"--key", &key]);
    assert_eq!(code, 0);
    std::fs::copy(other.join(SIGNATURE_FILE), copied.join(SIGNATURE_FILE)).unwrap();
    let (code, out, _) = run(&[
        &"plugins",
        &"verify",
        &copied,
        &short,
        &"--trusted-key",
        &root.path().join("k.pub"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            format!(
                "FAIL  {}: {}: the signature by key {id} does not match {} (it changed after signing, or the signature is another file's); sign it again",
                copied.display(),
                copied.join(SIGNATURE_FILE).display(),
                copied.join("plugin.toml").display()
            ),
            format!(
                "FAIL  {}: {}: line 2: the signature is 3 bytes, not 64 (an ed25519 signature is 64 bytes, 88 base64 characters); sign the plugin again",
                short.display(),
                short.join(SIGNATURE_FILE).display()
            ),
            "0 passed, 2 failed".to_owned(),
        ]
    );
}

#[test]
fn plugins_verify_trusts_the_keys_of_the_host_config() {
    let root = tempfile::tempdir().unwrap();
    let key = generate(&root, "k");
    let dir = plugin(root.path(), "echo");
    run(&[&"plugins", &"sign", &dir, &"--key", &key]);
    let public = PrivateKey::read(&key).unwrap().public_key();
    let config = root.path().join("app.toml");
    std::fs::write(
        &config,
        format!("[security]\ntrusted_keys = [\"{}\"]\n", public.to_base64()),
    )
    .unwrap();
    let (code, out, _) = run(&[&"plugins", &"verify", &dir, &"--config", &config]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&[&"plugins", &"verify", &dir]);
    assert_eq!(code, 1, "no trusted key: {out}");
}

#[test]
fn plugins_sign_refuses_a_plugin_whose_pinned_files_do_not_match() {
    let root = tempfile::tempdir().unwrap();
    let key = generate(&root, "k");
    let dir = plugin(root.path(), "echo");
    std::fs::write(dir.join("main.sh"), "echo changed\n").unwrap();
    let (code, out, err) = run(&[&"plugins", &"sign", &dir, &"--key", &key]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "error: main.sh: sha256 is {}, but plugin.toml pins {}; the file changed after it was pinned: restore it, or pin the new file (and sign the manifest again)\nnot signed: the pinned files do not match {}\n",
            sha(b"echo changed\n"),
            sha(b"echo hi\n"),
            dir.join("plugin.toml").display()
        )
    );
    assert!(!dir.join(SIGNATURE_FILE).exists());
}

#[test]
fn plugins_sign_with_a_bad_key_file_says_what_the_file_should_be() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    let key = root.path().join("k");
    std::fs::write(&key, "hello\n").unwrap();
    let (code, _, err) = run(&[&"plugins", &"sign", &dir, &"--key", &key]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("error: {}: line 1: expected `key-id: ...` (expected a private key file written by `hookwire keys generate`)\n", key.display())
    );
}

/// `plugins sign` refuses a process plugin that pins no file: its signature would cover
/// `plugin.toml` only, not the code it runs. Nothing is written.
#[test]
fn plugins_sign_refuses_a_process_plugin_that_pins_no_file() {
    let root = tempfile::tempdir().unwrap();
    let key = generate(&root, "release.key");
    let dir = plugin(root.path(), "unpinned");
    let manifest = dir.join("plugin.toml");
    std::fs::write(
        &manifest,
        "name = \"unpinned\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"sh\", \"main.sh\"]\n",
    )
    .unwrap();
    let (code, out, err) = run(&[&"plugins", &"sign", &dir, &"--key", &key]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "error: {}: pins no file (no [sha256] table); pin the program or script the plugin runs and every file beside it\nnot signed: a signature covers plugin.toml and, through its `[sha256]` pins, the files it runs; a process plugin that pins none would run unchecked code: pin them (`\"plugin.py\" = \"<sha256>\"`, as `sha256sum` prints), then sign\n",
            manifest.display()
        )
    );
    assert!(!dir.join(SIGNATURE_FILE).exists());
}
