//! The binary search tree that holds the stress test's memory.
//!
//! Nodes live in one arena (`Vec<Node>`) and point at their children by index, so insert,
//! search and release are plain loops: a degenerate tree (sorted keys) is as deep as it is
//! long, and nothing here recurses over it. Dropping the arena drops the payloads one after
//! another, again without recursion.
//!
//! A node is always appended after its parent, so the last node of the arena is always a
//! leaf: [`Tree::release`] pops nodes from the end and the tree stays a valid search tree at
//! every step, which lets a caller free a huge tree in slices and stop between them.

use std::collections::TryReserveError;
use std::mem::size_of;

const NONE: u32 = u32::MAX;

struct Node {
    key: u64,
    left: u32,
    right: u32,
    parent: u32,
    /// Written with non-zero bytes so that every page is really resident (a zeroed allocation
    /// stays virtual until touched, and RSS would not grow).
    payload: Box<[u8]>,
}

/// Why a node could not be added.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("the allocator refused memory: {0}")]
    OutOfMemory(#[from] TryReserveError),
    #[error("the tree is full: node indices are 32-bit")]
    TooManyNodes,
}

/// A binary search tree whose nodes each carry a payload of a fixed size.
#[derive(Default)]
pub struct Tree {
    nodes: Vec<Node>,
    payload_bytes: u64,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Heap bytes the tree holds: payloads plus the arena's capacity.
    pub fn bytes(&self) -> u64 {
        self.payload_bytes + (self.nodes.capacity() * size_of::<Node>()) as u64
    }

    /// Inserts `key` (duplicates go right, as in the original documents) with a payload of
    /// `payload_len` non-zero bytes. An allocation the allocator refuses is an error, not an
    /// abort.
    pub fn insert(&mut self, key: u64, payload_len: usize) -> Result<(), InsertError> {
        let index = u32::try_from(self.nodes.len())
            .ok()
            .filter(|i| *i != NONE)
            .ok_or(InsertError::TooManyNodes)?;
        let payload = filled_payload(payload_len, fill_byte(key))?;
        self.nodes.try_reserve(1)?;
        let parent = self.find_parent(key);
        if let Some((parent, go_left)) = parent {
            let node = &mut self.nodes[parent as usize];
            if go_left {
                node.left = index;
            } else {
                node.right = index;
            }
        }
        self.nodes.push(Node {
            key,
            left: NONE,
            right: NONE,
            parent: parent.map_or(NONE, |(p, _)| p),
            payload,
        });
        self.payload_bytes += payload_len as u64;
        Ok(())
    }

    /// The node under which `key` belongs, and whether it goes to that node's left.
    fn find_parent(&self, key: u64) -> Option<(u32, bool)> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut current = 0u32;
        loop {
            let node = &self.nodes[current as usize];
            let go_left = key < node.key;
            let next = if go_left { node.left } else { node.right };
            if next == NONE {
                return Some((current, go_left));
            }
            current = next;
        }
    }

    /// Whether `key` is in the tree. Reads the found node's payload so that a search touches
    /// the memory it keeps alive, as the searches of the original documents did.
    pub fn contains(&self, key: u64) -> bool {
        let mut current = if self.nodes.is_empty() { NONE } else { 0 };
        while current != NONE {
            let node = &self.nodes[current as usize];
            if key == node.key {
                return node.payload.first().is_some_and(|b| *b != 0);
            }
            current = if key < node.key {
                node.left
            } else {
                node.right
            };
        }
        false
    }

    /// The key of the `index`-th node (in insertion order); panics past the end.
    pub fn key_at(&self, index: usize) -> u64 {
        self.nodes[index].key
    }

    /// Frees the newest nodes until at least `max_bytes` of payload are freed or the tree is
    /// empty; returns the payload bytes freed. The tree stays a valid search tree.
    pub fn release(&mut self, max_bytes: u64) -> u64 {
        let mut freed = 0u64;
        while freed < max_bytes {
            let Some(node) = self.nodes.pop() else { break };
            let index = self.nodes.len() as u32;
            if let Some(parent) = self.nodes.get_mut(node.parent as usize) {
                if parent.left == index {
                    parent.left = NONE;
                } else if parent.right == index {
                    parent.right = NONE;
                }
            }
            freed += node.payload.len() as u64;
        }
        self.payload_bytes -= freed;
        if self.nodes.is_empty() {
            self.nodes = Vec::new();
        }
        freed
    }

    /// The longest root-to-leaf path, walked with an explicit stack (for tests and logs).
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = Vec::new();
        if !self.nodes.is_empty() {
            stack.push((0u32, 1usize));
        }
        while let Some((index, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            let node = &self.nodes[index as usize];
            for child in [node.left, node.right] {
                if child != NONE {
                    stack.push((child, depth + 1));
                }
            }
        }
        deepest
    }
}

/// Never zero, so the allocator cannot hand out untouched zero pages for it.
fn fill_byte(key: u64) -> u8 {
    (key as u8) | 1
}

fn filled_payload(len: usize, byte: u8) -> Result<Box<[u8]>, TryReserveError> {
    let mut payload: Vec<u8> = Vec::new();
    payload.try_reserve_exact(len)?;
    // SAFETY: `try_reserve_exact` guaranteed capacity for `len` bytes; `write_bytes`
    // initialises all of them (one memset, fast even in debug builds) before `set_len`.
    unsafe {
        std::ptr::write_bytes(payload.as_mut_ptr(), byte, len);
        payload.set_len(len);
    }
    Ok(payload.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_found_and_others_are_not() {
        let mut tree = Tree::new();
        for key in [50, 20, 80, 10, 30, 70, 90, 30] {
            tree.insert(key, 16).unwrap();
        }
        assert_eq!(tree.len(), 8);
        for key in [50, 20, 80, 10, 30, 70, 90] {
            assert!(tree.contains(key), "{key}");
        }
        for key in [0, 15, 55, 100] {
            assert!(!tree.contains(key), "{key}");
        }
        assert_eq!(tree.depth(), 4);
        assert_eq!(
            tree.bytes() as usize,
            8 * 16 + tree.nodes.capacity() * size_of::<Node>()
        );
    }

    #[test]
    fn a_degenerate_tree_of_sorted_keys_neither_overflows_insert_search_nor_drop() {
        // 20,000 levels on a 64 KiB stack: any recursion over the depth would overflow it.
        let n = 20_000u64;
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut tree = Tree::new();
                for key in 0..n {
                    tree.insert(key, 1).unwrap();
                }
                assert_eq!(tree.depth(), n as usize);
                assert!(tree.contains(n - 1));
                assert!(!tree.contains(n));
                drop(tree);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn payloads_are_non_zero_everywhere() {
        let mut tree = Tree::new();
        tree.insert(256, 4096 * 3).unwrap();
        assert!(tree.nodes[0].payload.iter().all(|b| *b != 0));
    }

    #[test]
    fn release_in_slices_keeps_a_valid_tree_until_empty() {
        let mut tree = Tree::new();
        let keys: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 1009).collect();
        for key in &keys {
            tree.insert(*key, 100).unwrap();
        }
        let freed = tree.release(30_000);
        assert_eq!(freed, 30_000);
        assert_eq!(tree.len(), 700);
        for key in &keys[..700] {
            assert!(tree.contains(*key));
        }
        for key in &keys[700..] {
            assert!(!tree.contains(*key));
        }
        assert_eq!(tree.release(u64::MAX), 70_000);
        assert!(tree.is_empty());
        assert_eq!(tree.bytes(), 0);
    }
}
