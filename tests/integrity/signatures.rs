//! `plugin.toml.sig`: signing, verifying against trusted keys, and the bad signatures an
//! operator may meet, each with its message.

use std::path::Path;

use hookwire::config::HostConfig;
use hookwire::security::{
    sign_plugin, verify_signature, KeyId, PrivateKey, PublicKey, SignatureError, SignaturePolicy,
    TrustedKeys, SIGNATURE_FILE,
};

use crate::{key, process_manifest, sha, write};

/// A plugin folder `root/<name>` with a pinned `main.sh`.
fn plugin(root: &Path, name: &str) -> std::path::PathBuf {
    write(root, &format!("{name}/main.sh"), "echo hi\n");
    write(
        root,
        &format!("{name}/plugin.toml"),
        process_manifest(name, &[("main.sh", &sha(b"echo hi\n"))]),
    );
    root.join(name)
}

fn trusting(key: &PrivateKey) -> TrustedKeys {
    TrustedKeys::new().trust(key.public_key())
}

#[test]
fn a_signature_by_a_trusted_key_verifies_and_names_the_key() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    let key = key();
    let sig = sign_plugin(&dir, &key).unwrap();
    assert_eq!(sig, dir.join(SIGNATURE_FILE));
    let text = std::fs::read_to_string(&sig).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], format!("key-id: {}", key.public_key().id()));
    assert!(lines[1].starts_with("signature: ") && lines[1].len() == "signature: ".len() + 88);
    let verified = verify_signature(&dir, &trusting(&key)).unwrap();
    assert_eq!(&verified.key_id, key.public_key().id());
    assert_eq!(
        verified.manifest,
        std::fs::read(dir.join("plugin.toml")).unwrap()
    );
}

#[test]
fn a_key_id_is_the_first_16_hex_digits_of_the_sha256_of_the_public_key() {
    let key = key();
    let public = key.public_key();
    let bytes = public.to_bytes();
    assert_eq!(public.id().as_str(), &sha(&bytes)[..16]);
    // The same key, written in hex, has the same id.
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(PublicKey::parse(&hex, "hex").unwrap().id(), public.id());
}

#[test]
fn an_unsigned_plugin_is_reported_as_unsigned() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    let err = verify_signature(&dir, &trusting(&key())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: missing; this host requires signed plugins: sign it with `hookwire plugins sign <dir> --key <file>`",
            dir.join(SIGNATURE_FILE).display()
        )
    );
}

#[test]
fn a_signature_of_the_wrong_length_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    let key = key();
    // 32 bytes of base64 instead of 64.
    std::fs::write(
        dir.join(SIGNATURE_FILE),
        format!(
            "key-id: {}\nsignature: {}\n",
            key.public_key().id(),
            key.public_key().to_base64()
        ),
    )
    .unwrap();
    let err = verify_signature(&dir, &trusting(&key)).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: line 2: the signature is 32 bytes, not 64 (an ed25519 signature is 64 bytes, 88 base64 characters); sign the plugin again",
            dir.join(SIGNATURE_FILE).display()
        )
    );
}

#[test]
fn a_signature_file_in_another_format_is_rejected_with_the_expected_format() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    std::fs::write(dir.join(SIGNATURE_FILE), "just a signature\n").unwrap();
    assert_eq!(
        verify_signature(&dir, &trusting(&key())).unwrap_err().to_string(),
        format!(
            "{}: line 1: expected `key-id: ...` (expected `key-id: <16 hex digits>` then `signature: <base64>`; sign the plugin again)",
            dir.join(SIGNATURE_FILE).display()
        )
    );
}

#[test]
fn a_signature_by_an_untrusted_key_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    let (signer, trusted) = (key(), key());
    sign_plugin(&dir, &signer).unwrap();
    let err = verify_signature(&dir, &trusting(&trusted)).unwrap_err();
    assert_eq!(
        err,
        SignatureError::UntrustedKey {
            signature: dir.join(SIGNATURE_FILE),
            key_id: signer.public_key().id().clone(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: signed by key {}, which this host does not trust; add its public key to `[security] trusted_keys`, or sign with a trusted key",
            dir.join(SIGNATURE_FILE).display(),
            signer.public_key().id()
        )
    );
}

#[test]
fn a_valid_signature_over_a_different_file_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let (echo, other) = (plugin(root.path(), "echo"), plugin(root.path(), "other"));
    let key = key();
    // A genuine signature by a trusted key, of another plugin's manifest.
    sign_plugin(&other, &key).unwrap();
    std::fs::copy(other.join(SIGNATURE_FILE), echo.join(SIGNATURE_FILE)).unwrap();
    let err = verify_signature(&echo, &trusting(&key)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the signature by key {} does not match {} (it changed after signing, or the signature is another file's); sign it again",
            echo.join(SIGNATURE_FILE).display(),
            key.public_key().id(),
            echo.join("plugin.toml").display()
        )
    );
    assert!(verify_signature(&other, &trusting(&key)).is_ok());
}

#[test]
fn a_manifest_changed_after_signing_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "echo");
    let key = key();
    sign_plugin(&dir, &key).unwrap();
    // One byte more: a new pin, say.
    let mut text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    text.push('\n');
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
    assert!(matches!(
        verify_signature(&dir, &trusting(&key)).unwrap_err(),
        SignatureError::Mismatch { key_id, .. } if &key_id == key.public_key().id()
    ));
}

#[test]
fn a_private_key_file_is_owner_only_never_overwritten_and_reads_back() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("release.key");
    let key = key();
    key.write_new(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let read = PrivateKey::read(&path).unwrap();
    assert_eq!(read.public_key(), key.public_key());
    let again = crate::key().write_new(&path).unwrap_err();
    assert_eq!(
        again.to_string(),
        format!("{}: exists already; a key file is never overwritten (choose another --out, or remove the old key if it is no longer needed)", path.display())
    );
    assert_eq!(
        PrivateKey::read(&path).unwrap().public_key(),
        key.public_key()
    );
}

#[test]
fn trusted_keys_come_from_the_security_table_of_the_host_config() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (key(), key());
    let file = write(
        root.path(),
        "b.pub",
        format!("{}\n", b.public_key().to_base64()),
    );
    let config = HostConfig::parse(
        &format!(
            "[security]\nrequire_signatures = true\ntrusted_keys = [\"{}\"]\ntrusted_key_files = [{:?}]\nlevel = \"ignored here\"\n",
            a.public_key().to_base64(),
            file.display().to_string()
        ),
        "app.toml",
    )
    .unwrap();
    let policy = SignaturePolicy::from_config(&config).unwrap();
    assert!(policy.is_required());
    assert_eq!(policy.trusted().len(), 2);
    for k in [&a, &b] {
        assert!(policy.trusted().get(k.public_key().id()).is_some());
    }
    assert_eq!(
        SignaturePolicy::from_config(&HostConfig::new()).unwrap(),
        SignaturePolicy::new()
    );
    let bad =
        HostConfig::parse("[security]\ntrusted_keys = [\"not-a-key\"]\n", "app.toml").unwrap();
    assert_eq!(
        SignaturePolicy::from_config(&bad).unwrap_err().to_string(),
        "app.toml: security.trusted_keys[0]: \"not-a-key\" is not a public key (expected 32 bytes as 44 base64 characters or 64 hex digits, as `hookwire keys generate` prints)"
    );
    let mistyped =
        HostConfig::parse("[security]\nrequire_signatures = \"yes\"\n", "app.toml").unwrap();
    assert_eq!(
        SignaturePolicy::from_config(&mistyped)
            .unwrap_err()
            .to_string(),
        "app.toml: security.require_signatures: is not a boolean (expected true or false)"
    );
}

#[test]
fn key_ids_display_as_their_hex_digits() {
    let key = key();
    let public = key.public_key();
    let id: &KeyId = public.id();
    assert_eq!(id.to_string(), id.as_str());
    assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()) && id.as_str().len() == 16);
}
