//! ed25519 signatures of `plugin.toml`: keys and their ids, the `plugin.toml.sig` format,
//! signing, verifying against the host's trusted keys, and the policy that requires them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::integrity::hex;
use crate::discovery::MANIFEST_FILE;

/// The file name of a manifest's signature, beside it: `plugins/<name>/plugin.toml.sig`.
///
/// Its format is two lines of text, in this order (whitespace around values ignored):
///
/// ```text
/// key-id: 3f2a9c0d41b7e805
/// signature: <88 base64 characters: the 64-byte ed25519 signature of plugin.toml's bytes>
/// ```
///
/// The signature covers the exact bytes of `plugin.toml`; `plugin.toml` pins the sha256 of
/// every file the plugin runs (`[sha256]`), so one signature covers them all.
pub const SIGNATURE_FILE: &str = "plugin.toml.sig";

/// The largest signature or key file read, in bytes.
const MAX_SMALL_FILE: u64 = 4096;

/// A public key's id: the first 16 hex digits of the sha256 of its 32 bytes. Names the key
/// that signed a plugin (`plugin.toml.sig`'s `key-id`), and what a host maps to a trust level.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        Self(hex(&digest[..8]))
    }

    /// The 16 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key, a key file or a `[security]` setting that could not be read: where, and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {problem}")]
#[non_exhaustive]
pub struct KeyError {
    /// The file, the command-line option or the config key it came from.
    pub origin: String,
    /// What is wrong and what was expected.
    pub problem: String,
}

impl KeyError {
    fn new(origin: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            problem: problem.into(),
        }
    }
}

/// An ed25519 public key that verifies plugin signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    /// Parses a public key written as base64 (44 characters, as `hookwire keys generate`
    /// prints) or 64 hex digits; `origin` names where it came from in errors.
    ///
    /// ```
    /// use hookwire::security::PublicKey;
    /// let key = PublicKey::parse("noCFqDmccGCvKQe4S84SqDkiYYSXd0jadle4H6pYTOo=", "doc").unwrap();
    /// assert_eq!(key.id().as_str().len(), 16);
    /// assert_eq!(
    ///     PublicKey::parse("abc", "trusted_keys[0]").unwrap_err().to_string(),
    ///     "trusted_keys[0]: \"abc\" is not a public key (expected 32 bytes as 44 base64 characters or 64 hex digits, as `hookwire keys generate` prints)"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`KeyError`] when the text is neither, or not 32 bytes, or not a valid ed25519 point.
    pub fn parse(text: &str, origin: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            BASE64.decode(text).ok()
        };
        let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            KeyError::new(origin, format!("{text:?} is not a public key (expected 32 bytes as 44 base64 characters or 64 hex digits, as `hookwire keys generate` prints)"))
        })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
            KeyError::new(
                origin,
                format!("{text:?} is not a valid ed25519 public key"),
            )
        })?;
        Ok(Self::from_verifying(key))
    }

    /// Reads a public key file (one key, as [`parse`](Self::parse) takes; the `.pub` file that
    /// `hookwire keys generate` writes).
    ///
    /// # Errors
    /// [`KeyError`] naming the file when it cannot be read or holds no valid key.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = read_small(path)
            .map_err(|problem| KeyError::new(path.display().to_string(), problem.to_string()))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn from_verifying(key: VerifyingKey) -> Self {
        Self {
            id: KeyId::of(&key),
            key,
        }
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key as 44 base64 characters.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.key.as_bytes())
    }
}

/// A private signing key (ed25519), for `hookwire plugins sign`. Its bytes are wiped from
/// memory when it is dropped.
///
/// A key file holds two lines: `key-id: <16 hex digits>` and `private-key: <base64 of the
/// 32-byte seed>`.
pub struct PrivateKey(SigningKey);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.public_key().id())
    }
}

impl PrivateKey {
    /// A new random key, from the operating system's random source.
    ///
    /// # Errors
    /// [`KeyError`] if the operating system gives no random bytes.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| KeyError::new("random source", format!("cannot get random bytes: {e}")))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self(key))
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying(self.0.verifying_key())
    }

    /// Writes the key to a new file at `path`, readable and writable by its owner only (mode
    /// 0600 on Unix). An existing file is not replaced.
    ///
    /// # Errors
    /// [`KeyError`] naming the file when it exists or cannot be written.
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let path = path.as_ref();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let origin = path.display().to_string();
        let mut file = options.open(path).map_err(|e| {
            let problem = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "exists already; a key file is never overwritten (choose another --out, or remove the old key if it is no longer needed)".to_owned()
            } else {
                format!("cannot create the key file: {e}")
            };
            KeyError::new(origin.clone(), problem)
        })?;
        let text = format!(
            "key-id: {}\nprivate-key: {}\n",
            self.public_key().id(),
            BASE64.encode(self.0.to_bytes())
        );
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| KeyError::new(origin, format!("cannot write the key file: {e}")))
    }

    /// Reads a key file written by [`write_new`](Self::write_new).
    ///
    /// # Errors
    /// [`KeyError`] naming the file when it cannot be read, is not in the key file format, or
    /// its `key-id` is not its key's.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = read_small(path).map_err(|p| KeyError::new(origin.clone(), p.to_string()))?;
        let fields = two_fields(&text, ["key-id", "private-key"]).map_err(|p| {
            KeyError::new(
                origin.clone(),
                format!("{p} (expected a private key file written by `hookwire keys generate`)"),
            )
        })?;
        let seed: [u8; 32] = BASE64
            .decode(fields[1].trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                KeyError::new(
                    origin.clone(),
                    "line 2: private-key is not 32 bytes of base64 (expected a private key file written by `hookwire keys generate`)",
                )
            })?;
        let key = Self(SigningKey::from_bytes(&seed));
        let id = key.public_key().id().clone();
        if id.as_str() != fields[0] {
            return Err(KeyError::new(
                origin,
                format!(
                    "line 1: key-id {} is not the id of this key ({id}); the file was edited",
                    fields[0]
                ),
            ));
        }
        Ok(key)
    }
}

/// The public keys a host trusts to sign plugins, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: BTreeMap<KeyId, PublicKey>,
}

impl TrustedKeys {
    /// No key: every signature is untrusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`.
    pub fn trust(mut self, key: PublicKey) -> Self {
        self.insert(key);
        self
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.id.clone(), key);
    }

    /// The key of id `id`, if trusted.
    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.get(id)
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Whether the host requires plugins found in folders to be signed, and by which keys.
///
/// In the host's TOML config (read with [`from_config`](Self::from_config)):
///
/// ```toml
/// [security]
/// require_signatures = true          # default false
/// trusted_keys = ["noCFqDmccGCvKQe4S84SqDkiYYSXd0jadle4H6pYTOo="]  # base64 or hex
/// trusted_key_files = ["/etc/app/release.pub"]
/// ```
///
/// Give it to discovery with `DiscoveryOptions::signatures`. When signatures are required, a
/// plugin folder whose `plugin.toml` is unsigned, signed by a key not trusted here, or whose
/// signature does not match is not loaded (default-deny). When they are not required, a valid
/// signature by a trusted key is still recorded (the report's `signed_by`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    required: bool,
    trusted: TrustedKeys,
}

impl SignaturePolicy {
    /// Signatures not required, no key trusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires (or not) every plugin folder's `plugin.toml` to be signed by a trusted key.
    pub fn require(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Trusts `key`.
    pub fn trust(mut self, key: PublicKey) -> Self {
        self.trusted.insert(key);
        self
    }

    /// Whether signatures are required.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The trusted keys.
    pub fn trusted(&self) -> &TrustedKeys {
        &self.trusted
    }

    /// Whether it does nothing: signatures not required, no key trusted.
    pub(crate) fn is_empty(&self) -> bool {
        !self.required && self.trusted.len() == 0
    }

    /// Both policies at once: required if either requires, every key either trusts.
    pub(crate) fn union(&self, other: &SignaturePolicy) -> SignaturePolicy {
        let mut both = self.clone();
        both.required |= other.required;
        for key in other.trusted.keys.values() {
            both.trusted.insert(key.clone());
        }
        both
    }

    /// Reads the `[security]` table of the host's config (see the type's docs); other keys of
    /// the table are left to the rest of the security settings. No `[security]` table gives
    /// [`SignaturePolicy::new`]. Relative `trusted_key_files` are relative to the current
    /// directory.
    ///
    /// ```
    /// use hookwire::config::HostConfig;
    /// use hookwire::security::SignaturePolicy;
    /// let config = HostConfig::parse(
    ///     "[security]\nrequire_signatures = true\ntrusted_keys = [\"noCFqDmccGCvKQe4S84SqDkiYYSXd0jadle4H6pYTOo=\"]\n",
    ///     "app.toml",
    /// ).unwrap();
    /// let policy = SignaturePolicy::from_config(&config).unwrap();
    /// assert!(policy.is_required());
    /// assert_eq!(policy.trusted().len(), 1);
    /// ```
    ///
    /// # Errors
    /// [`KeyError`] naming the setting (`app.toml: security.trusted_keys[0]`) when a value has
    /// the wrong type, a key does not parse or a key file cannot be read.
    pub fn from_config(config: &crate::config::HostConfig) -> Result<Self, KeyError> {
        let source = config.source().unwrap_or("config");
        match config.host_table().get("security") {
            None => Ok(Self::new()),
            Some(table) => Self::from_security_table(table, source),
        }
    }

    /// The settings of a `[security]` table (see [`from_config`](Self::from_config)); `source`
    /// names the file in errors.
    pub(crate) fn from_security_table(table: &toml::Value, source: &str) -> Result<Self, KeyError> {
        let at = |key: &str| format!("{source}: security.{key}");
        let table = table.as_table().ok_or_else(|| {
            KeyError::new(
                format!("{source}: security"),
                "is not a table (expected `[security]`)",
            )
        })?;
        let mut policy = Self::new();
        if let Some(v) = table.get("require_signatures") {
            policy.required = v.as_bool().ok_or_else(|| {
                KeyError::new(
                    at("require_signatures"),
                    "is not a boolean (expected true or false)",
                )
            })?;
        }
        let list = |key: &str| -> Result<Vec<String>, KeyError> {
            match table.get(key) {
                None => Ok(Vec::new()),
                Some(v) => v
                    .as_array()
                    .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
                    .ok_or_else(|| KeyError::new(at(key), "is not a list of strings")),
            }
        };
        for (i, text) in list("trusted_keys")?.iter().enumerate() {
            policy
                .trusted
                .insert(PublicKey::parse(text, &at(&format!("trusted_keys[{i}]")))?);
        }
        for (i, file) in list("trusted_key_files")?.iter().enumerate() {
            let key = PublicKey::read(file).map_err(|e| {
                KeyError::new(at(&format!("trusted_key_files[{i}]")), e.to_string())
            })?;
            policy.trusted.insert(key);
        }
        Ok(policy)
    }
}

/// Why a plugin's signature is not accepted. Each message names the signature file and, when
/// known, the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `plugin.toml.sig`.
    #[error("{}: missing; this host requires signed plugins: sign it with `hookwire plugins sign <dir> --key <file>`", .signature.display())]
    Unsigned {
        /// The signature file's path.
        signature: PathBuf,
    },
    /// The signature file is not in the format (see [`SIGNATURE_FILE`]), or its signature is
    /// not 64 bytes of base64.
    #[error("{}: {problem}", .signature.display())]
    Malformed {
        /// The signature file's path.
        signature: PathBuf,
        /// What is wrong, with the line.
        problem: String,
    },
    /// Signed by a key that is not trusted.
    #[error("{}: signed by key {key_id}, which this host does not trust; add its public key to `[security] trusted_keys`, or sign with a trusted key", .signature.display())]
    UntrustedKey {
        /// The signature file's path.
        signature: PathBuf,
        /// The signing key's id.
        key_id: KeyId,
    },
    /// The signature does not match `plugin.toml`'s bytes.
    #[error("{}: the signature by key {key_id} does not match {} (it changed after signing, or the signature is another file's); sign it again", .signature.display(), .manifest.display())]
    Mismatch {
        /// The signature file's path.
        signature: PathBuf,
        /// The manifest's path.
        manifest: PathBuf,
        /// The key it claims.
        key_id: KeyId,
    },
    /// A valid signature of a process plugin's `plugin.toml` that pins no file (`[sha256]`):
    /// the signature covers the manifest, not the program it runs, so it vouches for nothing
    /// that runs. Discovery does not count it as signed.
    #[error("{}: signed, but this process plugin pins no file, so the signature covers plugin.toml only, not the code it runs; pin every file it runs in plugin.toml's `[sha256]` table (`\"plugin.py\" = \"<sha256>\"`, as `sha256sum` prints) and sign it again", .manifest.display())]
    NothingPinned {
        /// The manifest's path.
        manifest: PathBuf,
    },
    /// `plugin.toml` changed between being parsed and being verified: nothing of it is used.
    #[error("{}: changed while it was being verified; try again", .manifest.display())]
    Changed {
        /// The manifest's path.
        manifest: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {message}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A verified signature: who signed, and the exact bytes of `plugin.toml` it covers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified {
    /// The trusted key that signed.
    pub key_id: KeyId,
    /// The manifest's bytes, as verified: parse these, not the file again.
    pub manifest: Vec<u8>,
}

/// Verifies `folder`'s `plugin.toml.sig` over the bytes of its `plugin.toml` with `trusted`'s
/// keys. Blocking file I/O.
///
/// # Errors
/// [`SignatureError`]: unsigned, a malformed signature file (e.g. a signature of the wrong
/// length), a key not in `trusted`, a signature that does not match, a file that cannot be
/// read.
pub fn verify_signature(folder: &Path, trusted: &TrustedKeys) -> Result<Verified, SignatureError> {
    let manifest_path = folder.join(MANIFEST_FILE);
    let sig_path = folder.join(SIGNATURE_FILE);
    let malformed = |problem: String| SignatureError::Malformed {
        signature: sig_path.clone(),
        problem,
    };
    let text = match std::fs::symlink_metadata(&sig_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignatureError::Unsigned {
                signature: sig_path,
            })
        }
        _ => match read_small(&sig_path) {
            Ok(text) => text,
            Err(SmallFileError::NotAFile) => {
                return Err(malformed(
                    "is not a regular file (a FIFO, a device or a folder); write the signature with `hookwire plugins sign <dir> --key <file>`"
                        .to_owned(),
                ))
            }
            Err(e) => {
                return Err(SignatureError::Io {
                    path: sig_path.clone(),
                    message: e.to_string(),
                })
            }
        },
    };
    let fields = two_fields(&text, ["key-id", "signature"])
        .map_err(|p| malformed(format!("{p} (expected `key-id: <16 hex digits>` then `signature: <base64>`; sign the plugin again)")))?;
    let key_id = fields[0].to_owned();
    if key_id.len() != 16
        || !key_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(malformed(format!(
            "line 1: key-id {key_id:?} is not 16 lower-case hex digits"
        )));
    }
    let bytes = BASE64
        .decode(fields[1])
        .map_err(|e| malformed(format!("line 2: the signature is not base64 ({e})")))?;
    let signature: [u8; 64] = bytes.as_slice().try_into().map_err(|_| {
        malformed(format!(
            "line 2: the signature is {} bytes, not 64 (an ed25519 signature is 64 bytes, 88 base64 characters); sign the plugin again",
            bytes.len()
        ))
    })?;
    let key_id = KeyId(key_id);
    let Some(key) = trusted.get(&key_id) else {
        return Err(SignatureError::UntrustedKey {
            signature: sig_path,
            key_id,
        });
    };
    let manifest =
        crate::discovery::read_manifest_bytes(&manifest_path).map_err(|e| SignatureError::Io {
            path: manifest_path.clone(),
            message: e.problem.to_string(),
        })?;
    key.key
        .verify_strict(&manifest, &Signature::from_bytes(&signature))
        .map_err(|_| SignatureError::Mismatch {
            signature: sig_path,
            manifest: manifest_path,
            key_id: key_id.clone(),
        })?;
    Ok(Verified { key_id, manifest })
}

/// Signs `folder`'s `plugin.toml` with `key` and writes `plugin.toml.sig` beside it (replacing
/// an old one); returns the signature file's path. Blocking file I/O.
///
/// It signs the manifest's bytes as they are; `hookwire plugins sign` first checks the
/// manifest and its pins. Discovery does not count the signature of a process plugin that
/// pins no file ([`SignatureError::NothingPinned`]): pin what it runs before signing.
///
/// # Errors
/// [`SignatureError::Io`] when the manifest cannot be read or the signature not written.
pub fn sign_plugin(folder: &Path, key: &PrivateKey) -> Result<PathBuf, SignatureError> {
    let manifest_path = folder.join(MANIFEST_FILE);
    let manifest =
        crate::discovery::read_manifest_bytes(&manifest_path).map_err(|e| SignatureError::Io {
            path: manifest_path.clone(),
            message: e.problem.to_string(),
        })?;
    let signature = key.0.sign(&manifest);
    let sig_path = folder.join(SIGNATURE_FILE);
    let text = format!(
        "key-id: {}\nsignature: {}\n",
        key.public_key().id(),
        BASE64.encode(signature.to_bytes())
    );
    std::fs::write(&sig_path, text).map_err(|e| SignatureError::Io {
        path: sig_path.clone(),
        message: format!("cannot write the signature: {e}"),
    })?;
    Ok(sig_path)
}

/// Why a key or signature file could not be read.
#[derive(Debug, thiserror::Error)]
enum SmallFileError {
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    #[error("is not a regular file (a FIFO, a device or a folder)")]
    NotAFile,
    #[error("is larger than {MAX_SMALL_FILE} bytes; not a key or signature file")]
    TooLarge,
}

/// Reads a small text file (at most [`MAX_SMALL_FILE`] bytes), refusing (without waiting on
/// it) anything but a regular file.
fn read_small(path: &Path) -> Result<String, SmallFileError> {
    use std::io::Read;
    let (file, meta) = crate::discovery::open_no_wait(path).map_err(SmallFileError::Io)?;
    if !meta.is_file() {
        return Err(SmallFileError::NotAFile);
    }
    let mut text = String::new();
    file.take(MAX_SMALL_FILE + 1)
        .read_to_string(&mut text)
        .map_err(SmallFileError::Io)?;
    if text.len() as u64 > MAX_SMALL_FILE {
        return Err(SmallFileError::TooLarge);
    }
    Ok(text)
}

/// The values of the two `name: value` lines of `text`, in the order of `names` (blank lines
/// ignored).
fn two_fields<'a>(text: &'a str, names: [&str; 2]) -> Result<[&'a str; 2], String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut values = [""; 2];
    for (i, name) in names.iter().enumerate() {
        let line = lines
            .next()
            .ok_or_else(|| format!("line {}: missing `{name}: ...`", i + 1))?;
        values[i] = line
            .split_once(':')
            .filter(|(k, _)| k.trim() == *name)
            .map(|(_, v)| v.trim())
            .ok_or_else(|| format!("line {}: expected `{name}: ...`", i + 1))?;
    }
    if lines.next().is_some() {
        return Err("line 3: unexpected text after the two lines".to_owned());
    }
    Ok(values)
}
