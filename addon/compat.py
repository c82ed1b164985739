"""The one place that hides the action API difference between Blender versions.

Blender 4.4 introduced slotted (layered) actions: F-curves live in a
channelbag of the action's first layer/strip, one channelbag per slot (the
slot says which ID the curves animate). Blender 5.0 removed the legacy
``Action.fcurves``. Blender 4.2/4.3 only have ``Action.fcurves``.
Everything else in the add-on asks this module for "the F-curve collection
of this action as it animates this object" and never touches slots itself.
"""
import bpy

HAS_SLOTS = "slots" in bpy.types.Action.bl_rna.properties


def _slot_for(action, obj, create: bool):
    """The action's slot for ``obj``: the assigned one; in another action (a
    copy or backup) the slot of the same identifier; else the first suitable one."""
    ad = obj.animation_data
    if ad is not None and ad.action == action and ad.action_slot is not None:
        return ad.action_slot
    wanted = ad.last_slot_identifier if ad is not None else ""
    for slot in action.slots:
        if wanted and slot.identifier == wanted:
            return slot
    for slot in action.slots:
        if getattr(slot, "target_id_type", "OBJECT") in ("OBJECT", "UNSPECIFIED"):
            return slot
    if not create:
        return None
    return action.slots.new(id_type="OBJECT", name=obj.name)


def assign_action(obj, action):
    """Make ``action`` the active action of ``obj`` (and its slot, 4.4+)."""
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    if HAS_SLOTS and action is not None:
        slot = _slot_for(action, obj, create=True)
        if ad.action_slot != slot:
            ad.action_slot = slot


def fcurve_collection(action, obj):
    """The F-curves of ``action`` for ``obj``: a collection with ``new``,
    ``find``, iteration; None when the action has none for it (4.4+)."""
    if not HAS_SLOTS:
        return action.fcurves
    slot = _slot_for(action, obj, create=False)
    bag = None if slot is None else _channelbag(action, slot, ensure=False)
    return None if bag is None else bag.fcurves


def ensure_fcurves(action, obj):
    """Like ``fcurve_collection`` but creates the slot/layer/strip/channelbag."""
    if not HAS_SLOTS:
        return action.fcurves
    return _channelbag(action, _slot_for(action, obj, create=True), ensure=True).fcurves


def _channelbag(action, slot, ensure: bool):
    """Channelbag of ``slot`` in the first layer's first keyframe strip, as
    ``bpy_extras.anim_utils.action_ensure_channelbag_for_slot`` (4.4+) does;
    written out because that helper is not in every 4.4+ release."""
    if not action.layers:
        if not ensure:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if not layer.strips:
        if not ensure:
            return None
        layer.strips.new(type="KEYFRAME")
    return layer.strips[0].channelbag(slot, ensure=ensure)


def new_fcurve(fcurves, data_path: str, index: int, group: str):
    """Add an F-curve in ``group`` (the keyword differs: 4.2 ``action_group``,
    4.4+ channelbag ``group_name``)."""
    if HAS_SLOTS:
        return fcurves.new(data_path, index=index, group_name=group)
    return fcurves.new(data_path, index=index, action_group=group)
