//! The device's private key (`--key`): plain, or encrypted with a passphrase.
//!
//! A private key comes in three plain forms, PEM or DER, and rustls takes all three:
//!
//! | PEM label               | form                        | who writes it                     |
//! |-------------------------|-----------------------------|-----------------------------------|
//! | `PRIVATE KEY`           | PKCS#8, any algorithm       | openssl 3, rcgen, most tools      |
//! | `RSA PRIVATE KEY`       | PKCS#1, RSA only            | the AWS IoT console download      |
//! | `EC PRIVATE KEY`        | SEC1, elliptic curve only   | `openssl ecparam -genkey`         |
//!
//! A key can also be stored *encrypted*, so a copied file is useless without its passphrase:
//!
//! * `ENCRYPTED PRIVATE KEY` is PKCS#8 with PBES2 (PKCS#5 v2): a key derived from the passphrase
//!   (PBKDF2 or scrypt) and AES-CBC. `encrypted_key.rs` decrypts it (with the default
//!   `encrypted-keys` feature). The passphrase comes from the environment variable
//!   [`PASSPHRASE_ENV`], or is asked for when stdin is a terminal. It is never a flag: command
//!   lines end up in shell history and are visible to every user in `ps`.
//! * `Proc-Type: 4,ENCRYPTED` inside an `RSA/EC PRIVATE KEY` block is OpenSSL's older scheme,
//!   with a weak key derivation (one MD5 round). We do not decrypt it; we print the `openssl`
//!   command that turns it into encrypted PKCS#8.
//!
//! The key's bytes never appear in a message. The key is not wiped from memory: the file's bytes,
//! the PEM contents and the `PrivateKeyDer` are ordinary buffers, and rustls keeps the key in
//! memory as long as the TLS config lives, for the whole run, as any TLS client must to sign each
//! handshake.

use std::path::Path;

use rustls::pki_types::PrivateKeyDer;

#[cfg(feature = "encrypted-keys")]
use super::encrypted_key::decrypt;
use super::pem_or_der::{self, Block, InputFile};
use crate::failure::Failure;

/// The environment variable that holds the passphrase of an encrypted `--key`.
pub const PASSPHRASE_ENV: &str = "MQTT5_KEY_PASSPHRASE";

/// Reads `--key`: PKCS#8, PKCS#1 or SEC1, PEM or DER, decrypting an encrypted PKCS#8 key.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Failure> {
    let file = InputFile {
        flag: "--key",
        path,
    };
    let blocks = pem_or_der::read_blocks(file)?;
    let has_certificate = blocks.iter().any(|b| matches!(b, Block::Certificate(_)));
    let has_pkcs12 = blocks.iter().any(|b| matches!(b, Block::Pkcs12));
    // The first key in the file is the one; a file may also hold the certificate (some tools
    // write both into one PEM file), which we skip over.
    for block in blocks {
        match block {
            Block::PrivateKey(key) => return Ok(key),
            Block::EncryptedPrivateKey(der) => return decrypt(file, &der),
            Block::LegacyEncryptedKey => return Err(legacy_encryption(file)),
            _ => {}
        }
    }
    Err(file.error(if has_certificate {
        "no private key in the file, only a certificate; did you swap --cert and --key?".into()
    } else if has_pkcs12 {
        format!(
            "a PKCS#12 bundle (.p12/.pfx); take the key out of it with \
             `openssl pkcs12 -in {0} -nocerts -out private.pem.key` and pass that file",
            file.shell_path()
        )
    } else {
        "no private key in the file; expected '-----BEGIN PRIVATE KEY-----', \
         '-----BEGIN RSA PRIVATE KEY-----' or '-----BEGIN EC PRIVATE KEY-----'"
            .to_owned()
    }))
}

/// A build without the `encrypted-keys` feature cannot decrypt: say how to get a key it can read.
#[cfg(not(feature = "encrypted-keys"))]
fn decrypt(file: InputFile, _der: &[u8]) -> Result<PrivateKeyDer<'static>, Failure> {
    Err(file.error(format!(
        "the private key is encrypted, and this binary was built without the `encrypted-keys` \
         feature; rebuild with `cargo build --features encrypted-keys` (it is on by default), or \
         decrypt the key with `openssl pkcs8 -in {0} -out {0}.plain` and pass that file",
        file.shell_path()
    )))
}

fn legacy_encryption(file: InputFile) -> Failure {
    file.error(format!(
        "the private key uses OpenSSL's legacy encryption ('Proc-Type: 4,ENCRYPTED'), which this tool \
         does not decrypt; convert it to encrypted PKCS#8 with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {0} -out {0}.p8`, then pass --key {0}.p8 \
         and its passphrase in {PASSPHRASE_ENV}",
        file.shell_path()
    ))
}

#[cfg(all(test, not(feature = "encrypted-keys")))]
mod tests {
    use super::*;

    #[test]
    fn a_lean_build_says_how_to_read_an_encrypted_key() {
        let file = InputFile {
            flag: "--key",
            path: Path::new("device.key"),
        };
        let error = decrypt(file, &[]).expect_err("cannot decrypt").to_string();
        assert!(error.starts_with("--key device.key: "), "{error}");
        assert!(error.contains("`encrypted-keys` feature"), "{error}");
        assert!(error.contains("openssl pkcs8 -in device.key"), "{error}");
    }
}
