//! The tree's distinct ACL lists. Nodes refer to a list by its index here (a
//! byte or two in a packed node) instead of each holding a pointer to it.

use std::collections::HashMap;
use std::sync::Arc;

use super::node::AclList;

/// Each distinct ACL list once, with the number of nodes using it; a list no
/// node uses any more is dropped and its index reused.
#[derive(Debug, Clone, Default)]
pub(super) struct AclTable {
    slots: Vec<Option<(AclList, u32)>>,
    by_list: HashMap<AclList, u32>,
    free: Vec<u32>,
    /// The index interned last: nodes usually get the list their parent or
    /// predecessor has, the very same allocation, found without hashing it.
    last: u32,
}

impl AclTable {
    /// The index of `acl` for one more node using it.
    pub fn intern(&mut self, acl: &AclList) -> u32 {
        let same_as_last = match self.slots.get(self.last as usize) {
            Some(Some((list, _))) => Arc::ptr_eq(list, acl),
            _ => false,
        };
        let known = if same_as_last {
            Some(self.last)
        } else {
            self.by_list.get(acl).copied()
        };
        if let Some(idx) = known {
            if let Some((_, users)) = &mut self.slots[idx as usize] {
                *users += 1;
            }
            self.last = idx;
            return idx;
        }
        let entry = Some((acl.clone(), 1));
        let idx = match self.free.pop() {
            Some(idx) => {
                self.slots[idx as usize] = entry;
                idx
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_list.insert(acl.clone(), idx);
        self.last = idx;
        idx
    }

    /// One node fewer uses the list at `idx`.
    pub fn release(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        if let Some((acl, users)) = slot {
            *users -= 1;
            if *users == 0 {
                self.by_list.remove(acl);
                *slot = None;
                self.free.push(idx);
            }
        }
    }

    /// The list at `idx`, which a node uses.
    pub fn get(&self, idx: u32) -> &AclList {
        match &self.slots[idx as usize] {
            Some((acl, _)) => acl,
            None => unreachable!("ACL index {idx} is used by a node but was released"),
        }
    }

    /// Number of distinct lists in use.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::open_acl;

    #[test]
    fn equal_lists_share_an_index_until_unused() {
        let mut t = AclTable::default();
        let a = t.intern(&Arc::new(open_acl()));
        assert_eq!(t.intern(&Arc::new(open_acl())), a);
        let b = t.intern(&Arc::new(vec![]));
        assert_ne!(a, b);
        t.release(a);
        assert_eq!(t.get(a).as_slice(), open_acl().as_slice());
        t.release(a);
        assert_eq!(t.len(), 1);
        let c = t.intern(&Arc::new(vec![]));
        assert_eq!(c, b);
        let d = t.intern(&Arc::new(open_acl()));
        assert_eq!(d, a, "a freed index is reused");
    }
}
