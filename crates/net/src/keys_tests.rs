use super::*;

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pf-net-keys-{}",
        hex::encode(crate::encoding::random_bytes::<8>())
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn save_then_load_gives_the_same_key() {
    let dir = tempdir();
    let path = dir.join("identity.pem");
    let id = Identity::generate();
    id.save(&path).unwrap();
    let back = Identity::load(&path).unwrap();
    assert_eq!(back.public_key(), id.public_key());
    assert_eq!(back.key_id(), id.key_id());
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn save_refuses_to_overwrite() {
    let dir = tempdir();
    let path = dir.join("identity.pem");
    let first = Identity::generate();
    first.save(&path).unwrap();
    let err = Identity::generate().save(&path).unwrap_err();
    assert!(matches!(err, KeyError::Exists(_)), "{err}");
    assert_eq!(Identity::load(&path).unwrap().key_id(), first.key_id());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn load_refuses_group_or_world_readable_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempdir();
    let path = dir.join("identity.pem");
    Identity::generate().save(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let err = Identity::load(&path).unwrap_err();
        assert!(matches!(err, KeyError::InsecurePermissions { .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"));
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    Identity::load(&path).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn load_refuses_garbage_and_reports_missing_file() {
    let dir = tempdir();
    let path = dir.join("garbage.pem");
    create_private(&path)
        .unwrap()
        .write_all(b"-----BEGIN PRIVATE KEY-----\nnope\n")
        .unwrap();
    assert!(matches!(
        Identity::load(&path).unwrap_err(),
        KeyError::Malformed(_)
    ));
    assert!(matches!(
        Identity::load(&dir.join("missing")).unwrap_err(),
        KeyError::Io { .. }
    ));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn debug_never_shows_the_secret() {
    let id = Identity::generate();
    let secret = id.signing.to_bytes();
    let dbg = format!("{id:?}");
    assert!(dbg.contains(id.key_id().as_str()));
    assert!(!dbg.contains(&hex::encode(secret)));
    assert!(!dbg.contains(&b64(&secret)));
    assert!(!dbg.contains(&STANDARD_NO_PAD.encode(secret)));
}

#[test]
fn key_id_and_fingerprint_are_stable_and_related() {
    let id = Identity::generate();
    let pk = *id.public_key();
    assert_eq!(pk.key_id(), pk.key_id());
    let kid = pk.key_id();
    assert_eq!(kid.as_str().len(), 32);
    let fp = pk.fingerprint();
    assert!(fp.as_str().starts_with("SHA256:"));
    assert_eq!(fp.as_str().len(), 7 + 43);
    let raw = STANDARD_NO_PAD.decode(&fp.as_str()[7..]).unwrap();
    assert_eq!(hex::encode(&raw[..16]), kid.as_str());
    assert_ne!(Identity::generate().key_id(), kid);
}

#[test]
fn known_vector_for_key_id_and_fingerprint() {
    // RFC 8032 test 1 public key.
    let bytes: [u8; 32] =
        hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap()
            .try_into()
            .unwrap();
    let pk = PublicKey::from_bytes(&bytes).unwrap();
    let digest = sha256(&bytes);
    assert_eq!(pk.key_id().as_str(), hex::encode(&digest[..16]));
    assert_eq!(
        pk.to_string(),
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );
}

#[test]
fn public_key_and_key_id_serde_round_trip_and_refuse_junk() {
    let pk = *Identity::generate().public_key();
    let json = serde_json::to_string(&pk).unwrap();
    assert_eq!(json, format!("\"{pk}\""));
    assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), pk);
    let kid = pk.key_id();
    assert_eq!(
        serde_json::from_str::<KeyId>(&serde_json::to_string(&kid).unwrap()).unwrap(),
        kid
    );
    for junk in [
        "",
        "AAAA",
        "not base64!",
        &format!("{pk}A"),
        &format!("{pk}="),
    ] {
        assert!(junk.parse::<PublicKey>().is_err(), "{junk}");
    }
    // The identity point is a weak key.
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    assert!(PublicKey::from_bytes(&identity_point).is_err());
    for junk in [
        "",
        "ABCDEF0123456789ABCDEF0123456789",
        "0123456789abcdef0123456789abcde",
        "g123456789abcdef0123456789abcdef",
    ] {
        assert!(KeyId::parse(junk).is_err(), "{junk}");
    }
}
