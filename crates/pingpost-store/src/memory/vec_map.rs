//! A map kept as a vector of pairs, for the embedded store's per-consumer maps (verticals
//! submitted to, buyers that disqualified): a consumer has one or two of each, and a hash
//! map's smallest table (four slots and their control bytes) was a large share of what the
//! store kept per consumer (issue 13's memory per ping). Lookups are linear: fine for a
//! handful of entries, and what a consumer has.

use std::borrow::Borrow;

#[derive(Debug, Clone)]
pub(super) struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: PartialEq, V> VecMap<K, V> {
    pub(super) fn get<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0.iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v)
    }

    pub(super) fn get_mut<Q: PartialEq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.0.iter_mut().find(|(k, _)| k.borrow() == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`, replacing its value if it had one.
    pub(super) fn insert(&mut self, key: K, value: V) {
        match self.get_mut(&key) {
            Some(v) => *v = value,
            None => {
                // Room for this one only: a push would make room for four.
                self.0.reserve_exact(1);
                self.0.push((key, value))
            }
        }
    }

    pub(super) fn remove<Q: PartialEq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.0.retain(|(k, _)| k.borrow() != key);
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut m: VecMap<String, u32> = VecMap::default();
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        m.insert("a".into(), 3);
        assert_eq!((m.len(), m.get("a"), m.get("b"), m.get("c")), (2, Some(&3), Some(&2), None));
        if let Some(v) = m.get_mut("b") {
            *v = 4;
        }
        m.retain(|_, v| *v > 3);
        assert_eq!(m.iter().collect::<Vec<_>>(), [(&"b".to_string(), &4)]);
        m.remove("b");
        assert!(m.is_empty());
        m.insert("x".into(), 1);
        m.clear();
        assert!(m.is_empty());
    }
}
