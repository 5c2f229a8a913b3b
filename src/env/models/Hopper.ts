/**
 * The Hopper-v2 model: a one-legged planar robot (torso, thigh, leg and a foot pointing forward, all
 * capsules) moving in the x–z plane, driven by three hinge motors. Every number below is the published
 * gym model's (gym/envs/mujoco/assets/hopper.xml, the file D4RL's hopper datasets were collected
 * with), which gives the robot standing upright in world coordinates; we write the same pose and
 * convert it to MuJoCo 3's local coordinates with `Mjcf.fromWorld`. Lengths in metres, joint ranges
 * in degrees.
 */
import * as Mjcf from "./Mjcf.ts"

/** `mj_step`s per environment step (gym's frame_skip for Hopper): dt = 4 × 0.002 s. */
export const frameSkip = 4

/** Heights (m) of the joints in the standing pose: top of the torso, hip, knee, ankle. */
const top = 1.45
const hip = 1.05
const knee = 0.6
const ankle = 0.1

/** The torso's body frame sits 1.25 m up; the root joints let it slide in x and z and pitch about y. */
const torsoHeight = 1.25

/** A leg hinge about −y anchored at `anchor` (world), range in degrees. */
const hinge = (name: string, anchor: Mjcf.Vec3, range: readonly [number, number]): Mjcf.Joint => ({
  name,
  type: "hinge",
  axis: [0, -1, 0],
  pos: anchor,
  range
})

/** The root joints' settings: unlimited, no armature, damping or spring. */
const free = { limited: false, armature: 0, damping: 0, stiffness: 0 } as const

const standing: Mjcf.WorldBody = {
  name: "torso",
  origin: [0, 0, torsoHeight],
  joints: [
    // Slide along x, slide along z (ref = 1.25, so that qpos[1] is the torso's height, which the
    // health test reads), pitch about y; anchored at world points.
    { ...free, name: "rootx", type: "slide", axis: [1, 0, 0], pos: [0, 0, 0] },
    { ...free, name: "rootz", type: "slide", axis: [0, 0, 1], pos: [0, 0, 0], ref: torsoHeight },
    { ...free, name: "rooty", type: "hinge", axis: [0, 1, 0], pos: [0, 0, torsoHeight] }
  ],
  capsules: [{ name: "torso_geom", radius: 0.05, from: [0, 0, top], to: [0, 0, hip], friction: 0.9 }],
  children: [{
    name: "thigh",
    origin: [0, 0, hip],
    joints: [hinge("thigh_joint", [0, 0, hip], [-150, 0])],
    capsules: [{ name: "thigh_geom", radius: 0.05, from: [0, 0, hip], to: [0, 0, knee], friction: 0.9 }],
    children: [{
      // The published leg and foot frames sit at these points (not at their joints); only the joint
      // anchors and capsules matter physically, and keeping them keeps the compiled numbers equal.
      name: "leg",
      origin: [0, 0, 0.35],
      joints: [hinge("leg_joint", [0, 0, knee], [-150, 0])],
      capsules: [{ name: "leg_geom", radius: 0.04, from: [0, 0, knee], to: [0, 0, ankle], friction: 0.9 }],
      children: [{
        name: "foot",
        origin: [0.13, 0, 0],
        joints: [hinge("foot_joint", [0, 0, ankle], [-45, 45])],
        // A 0.39 m foot, 0.13 m behind the ankle to 0.26 m ahead of it, with high friction 2.
        capsules: [{ name: "foot_geom", radius: 0.06, from: [-0.13, 0, ankle], to: [0.26, 0, ankle], friction: 2 }],
        children: []
      }]
    }]
  }]
}

/** The Hopper model. */
export const model: Mjcf.Model = {
  name: "hopper",
  compiler: { angle: "degree", inertiaFromGeom: true },
  option: { timestep: 0.002, integrator: "RK4" },
  defaults: {
    // Every leg joint: limited, armature 1, damping 1.
    joint: { limited: true, armature: 1, damping: 1 },
    // Every geom collides with every other (contype = conaffinity = 1; MuJoCo still skips a body's
    // contacts with its parent), condim 1 (a contact takes the larger condim of its two geoms, so
    // only body–body contacts are frictionless), 1 mm margin, solimp (0.8, 0.8, 0.01), solref (0.02, 1).
    geom: { contype: 1, conaffinity: 1, condim: 1, margin: 0.001, solimp: [0.8, 0.8, 0.01], solref: [0.02, 1] },
    motor: { ctrlLimited: true, ctrlRange: [-0.4, 0.4] }
  },
  // The floor: a 20 m plane with 3-D friction contacts.
  worldGeoms: [{ name: "floor", type: "plane", size: [20, 20, 0.125], pos: [0, 0, 0], conaffinity: 1, condim: 3 }],
  bodies: [Mjcf.fromWorld(standing)],
  // Thigh, leg and foot motors: torque = 200 N·m × ctrl, ctrl ∈ [−1, 1].
  motors: ["thigh_joint", "leg_joint", "foot_joint"].map((joint) => ({
    joint,
    gear: 200,
    ctrlLimited: true,
    ctrlRange: [-1, 1] as const
  }))
}
