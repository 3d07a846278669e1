//! [`SecretStore`] on Redis: one hash holds the whole set and its stamp, so reading it is one
//! `HGETALL` (never half of two writes), and a write is one script that may wait for the
//! replicas like every other operator write ([`RedisStore::waited_step`]). The hash and the
//! deleted names' marks share a hash slot of their own (`{secrets}`). Values are kept as
//! given — the store must hold them — and no error this module makes ever quotes one.

use crate::codec::{corrupt, ms, parse_ms};
use crate::scripts::ScriptCall;
use crate::store::Replicas;
use crate::RedisStore;
use pingpost_core::secret::{SecretName, SecretValue};
use pingpost_core::Timestamp;
use pingpost_store::{
    SecretPut, SecretSet, SecretStore, SecretsStamp, StoreError, StoreFuture, StoredSecret, MAX_SECRETS,
};

/// The field of each secret in the hash: `s:<name>`.
const SECRET_FIELD: &str = "s:";

impl SecretStore for RedisStore {
    fn secrets_stamp(&self) -> StoreFuture<'_, Option<SecretsStamp>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut fields = redis::cmd("HMGET");
            fields.arg(self.keys.secrets()).arg(&["v", "rev"][..]);
            let (version, rev): (Option<u64>, Option<String>) = self.run(fields.query_async(&mut con)).await?;
            Ok(version.map(|version| SecretsStamp { version, rev: rev.unwrap_or_default() }))
        })
    }

    fn secrets(&self) -> StoreFuture<'_, SecretSet> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let fields: Vec<(String, Vec<u8>)> =
                self.run(redis::cmd("HGETALL").arg(self.keys.secrets()).query_async(&mut con)).await?;
            read_set(fields)
        })
    }

    fn put_secret(
        &self,
        name: SecretName,
        value: SecretValue,
        at: Timestamp,
        rev: String,
    ) -> StoreFuture<'_, SecretPut> {
        Box::pin(async move {
            let mut call = ScriptCall::new(&self.scripts.put_secret);
            call.key(self.keys.secrets()).key(self.keys.secrets_deleted());
            call.arg(name.as_str()).arg(value.expose()).arg(ms(at)).arg(&rev).arg(MAX_SECRETS);
            let (answer, replicas): (String, Replicas) = self.waited_step("redis.put_secret", &call).await?;
            let put = match answer.as_str() {
                "c" => SecretPut::Created,
                "r" => SecretPut::Replaced,
                "full" => return Ok(SecretPut::Full),
                other => return Err(corrupt(format!("put_secret answered {other:?}"))),
            };
            replicas.require()?;
            Ok(put)
        })
    }

    fn delete_secret(&self, name: SecretName, rev: String) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut call = ScriptCall::new(&self.scripts.delete_secret);
            call.key(self.keys.secrets()).key(self.keys.secrets_deleted());
            call.arg(name.as_str()).arg(&rev);
            let (deleted, replicas): (i64, Replicas) = self.waited_step("redis.delete_secret", &call).await?;
            if deleted == 1 {
                replicas.require()?;
            }
            Ok(deleted == 1)
        })
    }
}

/// The set from the hash's fields, by name.
fn read_set(fields: Vec<(String, Vec<u8>)>) -> Result<SecretSet, StoreError> {
    let mut set = SecretSet::default();
    let (mut version, mut rev) = (None, String::new());
    for (field, bytes) in fields {
        match field.as_str() {
            "v" => {
                version = Some(
                    std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| corrupt("secrets' version"))?,
                )
            }
            "rev" => rev = String::from_utf8(bytes).map_err(|_| corrupt("secrets' rev"))?,
            _ => {
                let name =
                    field.strip_prefix(SECRET_FIELD).ok_or_else(|| corrupt(format!("secrets' field {field:?}")))?;
                set.secrets.push(read_secret(name, bytes)?);
            }
        }
    }
    set.stamp = version.map(|version| SecretsStamp { version, rev });
    set.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(set)
}

/// `<updated at ms>|<rev>|<c|r>|<value>`. An error names the secret, never its value.
fn read_secret(name: &str, bytes: Vec<u8>) -> Result<StoredSecret, StoreError> {
    let unreadable = || corrupt(format!("secret {name:?} unreadable"));
    let name = SecretName::parse(name).map_err(|_| unreadable())?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable())?;
    let mut parts = text.splitn(4, '|');
    let at = parts.next().ok_or_else(unreadable)?;
    let (_rev, _put, value) = (parts.next(), parts.next(), parts.next().ok_or_else(unreadable)?);
    let updated_at = parse_ms(at).map_err(|_| unreadable())?;
    let value = SecretValue::new(value).map_err(|_| unreadable())?;
    Ok(StoredSecret { name, value, updated_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_secret_is_named_and_its_value_never_quoted() {
        let fields = vec![("s:key".to_string(), b"not-a-time|r1|c|do-not-print".to_vec())];
        let e = read_set(fields).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("\"key\"") && !e.contains("do-not-print"), "{e}");
    }

    #[test]
    fn a_value_keeps_its_separators() {
        let fields = vec![
            ("v".to_string(), b"3".to_vec()),
            ("rev".to_string(), b"r3".to_vec()),
            ("s:b".to_string(), b"1000|r3|c|x|y|z".to_vec()),
            ("s:a".to_string(), b"2000|r2|r|plain".to_vec()),
        ];
        let set = read_set(fields).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.stamp, Some(SecretsStamp { version: 3, rev: "r3".into() }));
        let got: Vec<(&str, &str)> = set.secrets.iter().map(|s| (s.name.as_str(), s.value.expose())).collect();
        assert_eq!(got, [("a", "plain"), ("b", "x|y|z")]);
    }
}
