"""The user's keys before refinement, kept per action so that Restore Original
always has them, without undo and after save and reload.

- Before an action is first refined (and again after each Restore) its keys
  are copied to a backup action "<name> (original)": fake user (it survives
  save and reload), marked with ``motion_refine.backup_of`` and linked from
  the action's ``motion_refine.backup``. Refining again keeps that backup, so
  it holds the keys from before the first of those refinements.
- A backup is never written into: refining it is refused.
- An action used by more than one ID is made single-user before it is
  written, as Blender's own editing tools do: the object being refined (or
  restored) gets a copy, with a copy of the backup; the others keep theirs.
- Restore writes the backup's keys back into the same action (its name,
  users and other curves stay) and then drops the backup, so the next refine
  backs up the keys as they are then, hand edits included. No action the
  user made is ever deleted.
- Files from older versions kept one original per object; while that
  object's keys are refined, the next Refine or Restore adopts it as the
  action's backup.
"""
import bpy
from bpy.props import PointerProperty, StringProperty

from ..refine_core.errors import BadInputError
from . import animio, compat

SUFFIX = " (original)"


class MotionRefineAction(bpy.types.PropertyGroup):
    """Per-action state: the backup of a refined action, or what a backup is of."""

    backup: PointerProperty(type=bpy.types.Action, name="Backup",
                            description="The keys of this action before it was refined")
    backup_of: StringProperty(name="Backup Of",
                              description="Set on a backup: the action it keeps the original keys of")


def current_action(obj) -> bpy.types.Action | None:
    ad = obj.animation_data
    return ad.action if ad else None


def is_backup(action: bpy.types.Action | None) -> bool:
    return action is not None and bool(action.motion_refine.backup_of)


def backup_of(obj) -> bpy.types.Action | None:
    """The backup of ``obj``'s current action (None if it has not been refined)."""
    action = current_action(obj)
    if action is None:
        return None
    return action_backup(action) or _legacy_backup(obj, action)


# Files saved before backups were per action keep the original on the object:
# the property group "motion_refine" with "original" (the backup) and "refined".
LEGACY_GROUP = "motion_refine"


def _legacy_backup(obj, action):
    """The object's original from an older file, while its keys are refined."""
    group = obj.get(LEGACY_GROUP)
    if not hasattr(group, "get") or not group.get("refined"):
        return None
    original = group.get("original")
    if not isinstance(original, bpy.types.Action) or original == action or is_backup(action):
        return None
    return original


def _adopt_legacy(obj, action):
    """Make an older file's object-level original the backup of ``action``."""
    original = _legacy_backup(obj, action)
    if original is not None and action_backup(action) is None:
        original.motion_refine.backup_of = action.name
        action.motion_refine.backup = original
        del obj[LEGACY_GROUP]


def action_backup(action: bpy.types.Action) -> bpy.types.Action | None:
    """``action``'s backup. A copy of a refined action (Duplicate, Shift+D)
    carries the link too but has keys of its own: the link counts only for
    the action the backup was taken of, found by name (or after a rename, when
    no action of the recorded name links to it any more)."""
    backup = action.motion_refine.backup
    if backup is None or backup.motion_refine.backup_of == action.name:
        return backup
    owner = bpy.data.actions.get(backup.motion_refine.backup_of)
    if owner is not None and owner.motion_refine.backup == backup:
        return None  # a copy of ``owner``
    return backup  # renamed


def check_writable(obj) -> None:
    """Raise BadInputError when ``obj``'s action is a backup (never changed)."""
    action = current_action(obj)
    if is_backup(action):
        raise BadInputError(obj.name, f"its action '{action.name}' is the backup of '{action.motion_refine.backup_of}' "
                            "kept by Restore Original and is never changed; assign another action (or a copy "
                            "of this one) to refine")


def prepare_write(obj) -> bpy.types.Action:
    """Before refined keys are written: ``obj``'s own action (single-user),
    backed up unless it already has a backup. Returns the action."""
    check_writable(obj)
    _adopt_legacy(obj, current_action(obj))
    action = _single_user(obj)
    backup = action_backup(action)
    if backup is None:
        action.motion_refine.backup = _new_backup(action, action.name)
    else:
        backup.motion_refine.backup_of = action.name  # follows a rename
    return action


def restore(obj) -> bpy.types.Action:
    """Write the backup's motion keys back into ``obj``'s action and drop the
    backup (the action itself, and every other curve of it, stay)."""
    _adopt_legacy(obj, current_action(obj))
    action = _single_user(obj)
    backup = action_backup(action)
    if backup is None:
        raise BadInputError(obj.name, f"action '{action.name}' has not been refined: nothing to restore")
    animio.copy_motion_keys(backup, action, obj)
    for linked in bpy.data.actions:  # the action and copies of it that still carry the link
        if linked.motion_refine.backup == backup:
            linked.motion_refine.backup = None
    if backup.users - int(backup.use_fake_user) == 0:  # ours, and nothing else uses it
        bpy.data.actions.remove(backup)
    return action


def _new_backup(source, owner_name: str):
    backup = source.copy()
    backup.name = owner_name + SUFFIX
    backup.use_fake_user = True
    backup.motion_refine.backup = None
    backup.motion_refine.backup_of = owner_name
    return backup


def _single_user(obj):
    """``obj``'s action, replaced by a copy of it when other IDs use it too
    (real users: the fake user does not count, as in Blender's make single user)."""
    action = current_action(obj)
    if action.users - int(action.use_fake_user) <= 1:
        return action
    own = action.copy()
    own.use_fake_user = False
    backup = action_backup(action)
    own.motion_refine.backup = None if backup is None else _new_backup(backup, own.name)  # each restores alone
    compat.assign_action(obj, own)
    return own


CLASSES = (MotionRefineAction,)


def register_properties() -> None:
    bpy.types.Action.motion_refine = PointerProperty(type=MotionRefineAction)


def unregister_properties() -> None:
    del bpy.types.Action.motion_refine
