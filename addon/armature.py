"""Build the SMPL armature (and optional skinned mesh) and map rotations.

Armature space IS the SMPL frame (Y up, body facing +Z, metres): bone heads
sit at the rest joints unchanged. The up-axis conversion to Blender's Z-up
is a rotation of the armature *object* only (see ``UP_AXIS_ROTATIONS``), so
nothing inside the armature, and so nothing that is exported, depends on it.

Rest-pose/quaternion mapping (exact): each bone points from its joint to
its main child, so its rest matrix ``B_j`` (armature space, read back from
``bone.matrix_local``) is some rotation. Blender composes a pose bone as
``P_j = P_parent @ B_parent^-1 @ B_j @ Q_j`` while SMPL composes the global
joint rotation ``G_j = G_parent @ R_j`` and the posed bone is ``G_j @ B_j``.
Solving gives ``Q_j = B_j^-1 @ R_j @ B_j``: the pose-bone quaternion is the
SMPL local rotation conjugated by the fixed rest rotation of that bone, and
``R_j = B_j @ Q_j @ B_j^-1`` inverts it exactly (up to float32 key storage,
~1e-7 rad). The pelvis location key is ``B_0^-1 @ trans`` for the same
reason: a root pose bone sits at ``head + B_0 @ location``, and SMPL's root
sits at ``rest_joints[0] + trans``.
"""
import math

import bpy
import numpy as np

from ..refine_core.rotations import matrix_to_quat, quat_inverse, quat_multiply
from ..refine_core.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS

# The child each bone points at (pelvis and spine3 have several children).
MAIN_CHILD = {0: 3, 9: 12}
LEAF_LENGTH = 0.08  # metres, for bones without a child (head, hands, feet)

# Object rotation (Euler XYZ, radians) that shows the SMPL frame in Blender.
# Y_UP: +90 deg about X turns SMPL's +Y up into Blender's +Z and its +Z
# facing into -Y, so the body faces Blender's front view. Z_UP: the source is
# already Z-up (AMASS world frame): no rotation. NEG_Y_UP (only from AUTO):
# camera-frame files (VIBE, 4D-Humans: Y points down) get -90 deg about X.
UP_AXIS_ROTATIONS = {"Y_UP": (math.pi / 2, 0.0, 0.0), "Z_UP": (0.0, 0.0, 0.0), "NEG_Y_UP": (-math.pi / 2, 0.0, 0.0)}


def bone_tails(rest_joints) -> np.ndarray:
    """(24, 3) tail of each bone: its main child's joint, or (leaves) a short
    bone continuing the parent's direction."""
    rest = np.asarray(rest_joints, dtype=np.float64)
    children = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    tails = np.empty_like(rest)
    for j in range(NUM_JOINTS):
        kids = children[j]
        if kids:
            tails[j] = rest[MAIN_CHILD.get(j, kids[0])]
            continue
        d = rest[j] - rest[PARENTS[j]]
        tails[j] = rest[j] + LEAF_LENGTH * d / max(np.linalg.norm(d), 1e-9)
    return tails


def build_armature(context, name: str, rest_joints):
    """A new armature object ``name`` linked to the scene's active collection:
    bones named by SMPL joint names, parented as SMPL, heads at ``rest_joints``
    (24, 3) in the SMPL frame, pose bones in quaternion rotation mode."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    context.collection.objects.link(obj)
    tails = bone_tails(rest_joints)
    _add_edit_bones(context, obj, np.asarray(rest_joints, dtype=np.float64), tails)
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    data.display_type = "STICK"
    obj.show_in_front = True
    return obj


def _add_edit_bones(context, obj, heads, tails):
    """Edit bones need edit mode on the active object; restore the previous
    active object and mode afterwards."""
    view_layer = context.view_layer
    previous = view_layer.objects.active
    selected = [o for o in view_layer.objects if o.select_get()]
    for o in selected:  # edit mode takes every selected armature along
        o.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    bones = obj.data.edit_bones
    for j, name in enumerate(JOINT_NAMES):
        eb = bones.new(name)
        eb.head = heads[j]
        eb.tail = tails[j]
        eb.roll = 0.0
        if PARENTS[j] >= 0:
            eb.parent = bones[JOINT_NAMES[PARENTS[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.select_set(False)
    for o in selected:
        o.select_set(True)
    view_layer.objects.active = previous if previous is not None else obj


def rest_rotations(obj) -> np.ndarray:
    """(24, 4) xyzw: each bone's rest rotation ``B_j`` in armature space."""
    mats = np.empty((NUM_JOINTS, 3, 3))
    for j, name in enumerate(JOINT_NAMES):
        mats[j] = np.array(obj.data.bones[name].matrix_local, dtype=np.float64)[:3, :3]
    return matrix_to_quat(mats)


def rest_joints(obj) -> np.ndarray:
    """(24, 3) bone heads in armature space (= SMPL rest joints, metres)."""
    return np.array([obj.data.bones[n].head_local for n in JOINT_NAMES], dtype=np.float64)


def is_smpl_armature(obj) -> bool:
    return obj is not None and obj.type == "ARMATURE" and all(n in obj.data.bones for n in JOINT_NAMES)


def smpl_to_pose(rotations, rest_q) -> np.ndarray:
    """(T, 24, 4) SMPL local rotations -> pose-bone quaternions ``B^-1 R B`` (xyzw)."""
    return quat_multiply(quat_inverse(rest_q), rotations, rest_q)


def pose_to_smpl(pose_q, rest_q) -> np.ndarray:
    """Inverse of ``smpl_to_pose``: ``B Q B^-1`` (xyzw)."""
    return quat_multiply(rest_q, pose_q, quat_inverse(rest_q))


def build_skinned_mesh(context, arm_obj, model, betas):
    """A mesh from the SMPL ``model`` for ``betas`` (vertices in the SMPL frame,
    like the armature), one vertex group per joint from the LBS weights,
    parented to the armature with an Armature modifier."""
    verts = model.vertices(betas)
    faces = model.faces
    mesh = bpy.data.meshes.new(arm_obj.name + " body")
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.update()
    mesh.validate()
    obj = bpy.data.objects.new(arm_obj.name + " body", mesh)
    context.collection.objects.link(obj)
    obj.parent = arm_obj
    _add_vertex_groups(obj, model.weights)
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    return obj


def _add_vertex_groups(obj, weights):
    """One group per joint; ``VertexGroup.add`` takes one weight per call, so
    vertices are grouped by identical weight to keep the calls few."""
    for j, name in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=name)
        w = weights[:, j]
        idx = np.flatnonzero(w > 1e-6)
        for value in np.unique(w[idx]):
            group.add(idx[w[idx] == value].tolist(), float(value), "REPLACE")
