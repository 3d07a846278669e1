//! Ids of configured resources. Distinct types so a buyer id can never be passed where a
//! contract id is expected.
//!
//! An id is shared, not owned: a ping copies the ids of every contract it touches into its
//! candidates, bids, audit entries and statistics, and a copy of an `Arc<str>` is a counter
//! increment where a `String`'s was an allocation (issue 13's profile: string copies were
//! an eighth of a 30-contract ping).

use std::fmt;
use std::sync::Arc;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Arc<str>);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(Arc::from(id.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::id_schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A market such as auto insurance.
    VerticalId
);
id_type!(
    /// What a partner pings.
    OfferId
);
id_type!(
    /// A lead source.
    PartnerId
);
id_type!(
    /// A lead buyer.
    BuyerId
);
id_type!(
    /// One buyer's standing order on one offer.
    ContractId
);
