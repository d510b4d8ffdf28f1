//! Intrusive doubly linked lists threaded through the slot slab, so moving a
//! page between lists or unlinking it is O(1) and allocates nothing.

/// "No slot": the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

/// One pair of links inside a slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

impl Link {
    pub(crate) const NONE: Link = Link {
        prev: NIL,
        next: NIL,
    };
}

/// A list's ends and length. The front is the most recently used end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct List {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) len: usize,
}

impl List {
    pub(crate) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// Access to one of the link pairs of the slab's slots.
pub(crate) trait Links {
    fn link(&mut self, slot: u32) -> Option<&mut Link>;
}

/// Put `slot` at the front of `list`. The slot must be on no list of this
/// kind.
pub(crate) fn push_front(links: &mut impl Links, list: &mut List, slot: u32) {
    let old_head = list.head;
    if let Some(link) = links.link(slot) {
        *link = Link {
            prev: NIL,
            next: old_head,
        };
    }
    if let Some(head) = links.link(old_head) {
        head.prev = slot;
    } else {
        list.tail = slot;
    }
    list.head = slot;
    list.len += 1;
}

/// Take `slot` off `list`.
pub(crate) fn unlink(links: &mut impl Links, list: &mut List, slot: u32) {
    let Some(link) = links.link(slot) else {
        return;
    };
    let Link { prev, next } = *link;
    *link = Link::NONE;
    match links.link(prev) {
        Some(p) => p.next = next,
        None => list.head = next,
    }
    match links.link(next) {
        Some(n) => n.prev = prev,
        None => list.tail = prev,
    }
    list.len = list.len.saturating_sub(1);
}
