//! A small in-memory cache of the vectors of recent messages: the same short messages
//! ("cant login", "verification code not coming") come in again and again, and a vector costs
//! milliseconds. Bounded, first in first out; it lives only in memory (users' text is never
//! written to disk by it).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The most messages kept.
pub const RECENT_CAPACITY: usize = 512;

/// Vectors of recent messages, by normalised text.
#[derive(Debug, Default)]
pub struct Recent {
    map: HashMap<String, Arc<[f32]>>,
    order: VecDeque<String>,
}

impl Recent {
    /// The vector of `text`, when it was seen recently.
    pub fn get(&self, text: &str) -> Option<Arc<[f32]>> {
        self.map.get(text).cloned()
    }

    /// Remembers `text`'s vector, forgetting the oldest when full.
    pub fn insert(&mut self, text: &str, vector: Arc<[f32]>) {
        if self.map.contains_key(text) {
            return;
        }
        if self.order.len() >= RECENT_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(text.to_string());
        self.map.insert(text.to_string(), vector);
    }

    /// How many vectors are kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_oldest_out_first() {
        let mut r = Recent::default();
        for i in 0..RECENT_CAPACITY + 3 {
            r.insert(&format!("m{i}"), Arc::from(vec![i as f32]));
        }
        assert_eq!(r.len(), RECENT_CAPACITY);
        assert!(r.get("m0").is_none() && r.get("m2").is_none());
        assert_eq!(r.get("m3").as_deref(), Some(&[3.0][..]));
        r.insert("m3", Arc::from(vec![9.0]));
        assert_eq!(
            r.get("m3").as_deref(),
            Some(&[3.0][..]),
            "first vector kept"
        );
    }
}
