//! Layers for stacking filesystems (an overlay): the `lowerdir=A[:B...]`
//! (topmost first), `upperdir=C` and `workdir=W` mount options, resolved by
//! the VFS into a [`MountSource::Layers`], and the pins that keep the
//! layers' mounts in place while a stacked mount uses them.
//!
//! A layer is an absolute path to a directory or `@name`, a hidden mount.
//! `workdir=` is accepted for Linux's syntax and dropped: our stacking
//! filesystems copy up without a work directory. Paths holding `:` or `,`
//! cannot be layers (there is no escape syntax).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Vfs;
use crate::errno::{Errno, VfsResult};
use crate::fstype::{Layer, Layers, MountSource};
use crate::mount_table::{find_hidden, hidden_name};
use crate::tree::Tree;
use crate::vnode::MountShared;

/// Most lower layers in one stack (Linux's `OVL_MAX_STACK`).
const MAX_LOWER: usize = 500;

/// Mount options split into the layer words and the rest.
struct LayerOptions<'a> {
    lower: Option<&'a str>,
    upper: Option<&'a str>,
    /// Whether any layer option (even only `workdir=`) was given.
    layered: bool,
    /// Everything else, for the filesystem type.
    rest: String,
}

impl<'a> LayerOptions<'a> {
    /// Split `options`; on a layer option given twice or without a value,
    /// or layer options without `lowerdir=`, the line saying so (EINVAL).
    fn parse(options: &'a str) -> Result<LayerOptions<'a>, String> {
        let mut out = LayerOptions {
            lower: None,
            upper: None,
            layered: false,
            rest: String::new(),
        };
        let mut work = None;
        for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (key, value) = match option.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (option, None),
            };
            let slot = match key {
                "lowerdir" => &mut out.lower,
                "upperdir" => &mut out.upper,
                "workdir" => &mut work,
                _ => {
                    if !out.rest.is_empty() {
                        out.rest.push(',');
                    }
                    out.rest.push_str(option);
                    continue;
                }
            };
            let value = value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{key}= needs a value"))?;
            if slot.replace(value).is_some() {
                return Err(format!("{key}= given twice"));
            }
            out.layered = true;
        }
        if out.layered && out.lower.is_none() {
            return Err(String::from("layer options need lowerdir="));
        }
        Ok(out)
    }
}

/// Whether `options` holds a layer option (cheap: no allocation).
pub(crate) fn has_layer_options(options: &str) -> bool {
    options.split(',').any(|o| {
        let key = o.trim().split('=').next().unwrap_or_default();
        matches!(key, "lowerdir" | "upperdir" | "workdir")
    })
}

/// Layers resolved from mount options, with the mounts they are on.
pub(crate) struct ResolvedLayers {
    pub layers: Layers,
    /// The mount of each layer, lower ones first, then the upper one.
    pub mounts: Vec<Arc<MountShared>>,
}

/// Mounts pinned as layers of a stacked mount being made. Dropping it
/// releases them (the mount failed), taking the tree lock, so it must not
/// drop while that lock is held; [`LayerPins::take`] hands them to the
/// mount record instead.
pub(crate) struct LayerPins<'v> {
    vfs: &'v Vfs,
    mounts: Vec<Arc<MountShared>>,
}

impl<'v> LayerPins<'v> {
    /// No pins (a mount without layers).
    pub fn none(vfs: &'v Vfs) -> Self {
        LayerPins {
            vfs,
            mounts: Vec::new(),
        }
    }

    /// The pinned mounts, now the caller's to release.
    pub fn take(mut self) -> Vec<Arc<MountShared>> {
        core::mem::take(&mut self.mounts)
    }
}

impl Drop for LayerPins<'_> {
    fn drop(&mut self) {
        if !self.mounts.is_empty() {
            unpin_layers(&mut self.vfs.tree.write(), &self.mounts);
        }
    }
}

/// Release the pins `mounts` hold (under the tree lock).
pub(crate) fn unpin_layers(tree: &mut Tree, mounts: &[Arc<MountShared>]) {
    for shared in mounts {
        if let Some(rec) = tree
            .mounts
            .iter_mut()
            .find(|m| Arc::ptr_eq(&m.shared, shared))
        {
            rec.layer_users = rec.layer_users.saturating_sub(1);
        }
    }
}

impl Vfs {
    /// The source and type options of a mount: when `options` has layer
    /// options, the resolved layers (their mounts pinned) and the options
    /// without them; else `source` and `options` as given. EINVAL for a
    /// source together with layer options.
    pub(crate) fn prepare_layers(
        &self,
        source: MountSource,
        options: &str,
    ) -> VfsResult<(MountSource, String, LayerPins<'_>)> {
        if !has_layer_options(options) {
            return Ok((source, String::from(options), LayerPins::none(self)));
        }
        let parsed = LayerOptions::parse(options).map_err(|_| Errno::EINVAL)?;
        if !matches!(source, MountSource::None) {
            return Err(Errno::EINVAL);
        }
        let resolved = self.resolve_layer_options(&parsed).map_err(|(e, _)| e)?;
        let pins = self.pin_layers(resolved.mounts)?;
        Ok((MountSource::Layers(resolved.layers), parsed.rest, pins))
    }

    /// For `diagnose_mount`: the source and type options a mount would be
    /// built from, or a line naming what is wrong with its layer options.
    pub(crate) fn layers_for_diagnosis(
        &self,
        source: &MountSource,
        options: &str,
    ) -> Result<(MountSource, String), String> {
        let parsed = LayerOptions::parse(options)?;
        if !parsed.layered {
            return Ok((source.clone(), String::from(options)));
        }
        if !matches!(source, MountSource::None) {
            return Err(String::from("a source cannot be given with layer options"));
        }
        let resolved = self
            .resolve_layer_options(&parsed)
            .map_err(|(_, word)| format!("in layer '{word}'"))?;
        Ok((MountSource::Layers(resolved.layers), parsed.rest))
    }

    /// Every layer word of `parsed`; on failure the errno and the word.
    fn resolve_layer_options<'o>(
        &self,
        parsed: &LayerOptions<'o>,
    ) -> Result<ResolvedLayers, (Errno, &'o str)> {
        let mut layers = Layers::default();
        let mut mounts = Vec::new();
        for word in parsed.lower.unwrap_or_default().split(':') {
            if layers.lower.len() == MAX_LOWER {
                return Err((Errno::EINVAL, word));
            }
            let (layer, shared) = self.resolve_layer(word).map_err(|e| (e, word))?;
            layers.lower.push(layer);
            mounts.push(shared);
        }
        if let Some(word) = parsed.upper {
            let (layer, shared) = self.resolve_layer(word).map_err(|e| (e, word))?;
            layers.upper = Some(layer);
            mounts.push(shared);
        }
        Ok(ResolvedLayers { layers, mounts })
    }

    /// One layer word: `@name` (ENOENT if no such hidden mount) or an
    /// absolute path (ENOENT, ENOTDIR as a walk gives them); EINVAL else.
    fn resolve_layer(&self, word: &str) -> VfsResult<(Layer, Arc<MountShared>)> {
        let vnode = if word.starts_with('@') {
            let name = hidden_name(word)?;
            let tree = self.tree.read();
            let rec = find_hidden(&tree, name).ok_or(Errno::ENOENT)?;
            tree.vnode(rec.root)?.clone()
        } else if word.starts_with('/') {
            self.resolve(word, true)?.1
        } else {
            return Err(Errno::EINVAL);
        };
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let layer = Layer {
            name: String::from(word),
            fs: vnode.mount.fs.clone(),
            dir: vnode.inode.clone(),
            read_only: vnode.mount.read_only,
        };
        Ok((layer, vnode.mount.clone()))
    }

    /// Pin `mounts` (ENOENT if one was unmounted since it was resolved).
    fn pin_layers(&self, mounts: Vec<Arc<MountShared>>) -> VfsResult<LayerPins<'_>> {
        if !mounts.is_empty() {
            let mut tree = self.tree.write();
            for (done, shared) in mounts.iter().enumerate() {
                match tree
                    .mounts
                    .iter_mut()
                    .find(|m| Arc::ptr_eq(&m.shared, shared))
                {
                    Some(rec) => rec.layer_users = rec.layer_users.saturating_add(1),
                    None => {
                        unpin_layers(&mut tree, mounts.get(..done).unwrap_or_default());
                        return Err(Errno::ENOENT);
                    }
                }
            }
        }
        Ok(LayerPins { vfs: self, mounts })
    }
}
