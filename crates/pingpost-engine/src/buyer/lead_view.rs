//! The ping's fields as buyers may see them. What pingpost sends and how it reads answers,
//! in its own protocol and in each buyer's, is `pingpost_core::adapter`'s (no I/O there).

use pingpost_core::identity::Identity;
use pingpost_core::lead::LeadFields;
use serde_json::{Map, Value};

/// The ping's fields as buyers may see them: qualifying fields plus the identifier hashes,
/// never a plaintext email or phone.
pub fn public_lead(fields: &LeadFields, identity: &Identity) -> Value {
    public_lead_of(fields, Some(identity))
}

/// [`public_lead`] of a lead that may have no identifier (an operator's sample lead).
pub fn public_lead_of(fields: &LeadFields, identity: Option<&Identity>) -> Value {
    let mut lead: Map<String, Value> = fields.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    if let Some(h) = identity.and_then(Identity::email) {
        lead.insert("email_sha256".into(), Value::String(h.to_string()));
    }
    if let Some(h) = identity.and_then(Identity::phone) {
        lead.insert("phone_sha256".into(), Value::String(h.to_string()));
    }
    Value::Object(lead)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pingpost_core::lead::FieldValue;

    #[test]
    fn public_lead_carries_hashes_never_plaintext() {
        let id =
            Identity::from_raw(&pingpost_core::identity::RawIdentity { email: Some("a@b.co"), ..Default::default() })
                .unwrap();
        let mut fields = LeadFields::new();
        fields.insert("state".into(), FieldValue::Text("CA".into()));
        let lead = public_lead(&fields, &id);
        assert_eq!(lead["state"], "CA");
        assert_eq!(lead["email_sha256"].as_str().map(str::len), Some(64));
        assert!(!lead.to_string().contains("a@b.co"));
    }
}
