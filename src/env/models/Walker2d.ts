/**
 * The Walker2d-v2 model: a two-legged planar robot (a torso and two identical legs of thigh, leg and
 * a forward-pointing foot, all capsules) moving in the x–z plane, driven by six hinge motors. Every
 * number below is the published gym model's (gym/envs/mujoco/assets/walker2d.xml, the file D4RL's
 * walker2d datasets were collected with), which gives the robot standing upright in world
 * coordinates; we write the same pose and convert it to MuJoCo 3's local coordinates with
 * `Mjcf.fromWorld`. Lengths in metres, joint ranges in degrees.
 */
import * as Mjcf from "./Mjcf.ts"

/** `mj_step`s per environment step (gym's frame_skip for Walker2d): dt = 4 × 0.002 s. */
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

/**
 * One leg hanging from the hip; `suffix` names the left leg's parts ("_left"), and the published
 * model gives the left foot friction 1.9 and every other part 0.9.
 */
const leg = (suffix: string, footFriction: number): Mjcf.WorldBody => ({
  name: `thigh${suffix}`,
  origin: [0, 0, hip],
  joints: [hinge(`thigh${suffix}_joint`, [0, 0, hip], [-150, 0])],
  capsules: [{ name: `thigh${suffix}_geom`, radius: 0.05, from: [0, 0, hip], to: [0, 0, knee], friction: 0.9 }],
  children: [{
    // The published leg and foot frames sit at these points (not at their joints); only the joint
    // anchors and capsules matter physically, and keeping them keeps the compiled numbers equal.
    name: `leg${suffix}`,
    origin: [0, 0, 0.35],
    joints: [hinge(`leg${suffix}_joint`, [0, 0, knee], [-150, 0])],
    capsules: [{ name: `leg${suffix}_geom`, radius: 0.04, from: [0, 0, knee], to: [0, 0, ankle], friction: 0.9 }],
    children: [{
      name: `foot${suffix}`,
      origin: [0.2, 0, 0],
      joints: [hinge(`foot${suffix}_joint`, [0, 0, ankle], [-45, 45])],
      // A 0.2 m foot reaching forward from the ankle.
      capsules: [{
        name: `foot${suffix}_geom`,
        radius: 0.06,
        from: [0, 0, ankle],
        to: [0.2, 0, ankle],
        friction: footFriction
      }],
      children: []
    }]
  }]
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
  children: [leg("", 0.9), leg("_left", 1.9)]
}

/** The Walker2d model. */
export const model: Mjcf.Model = {
  name: "walker2d",
  compiler: { angle: "degree", inertiaFromGeom: true },
  option: { timestep: 0.002, integrator: "RK4" },
  defaults: {
    // Every leg joint: limited, armature 0.01, damping 0.1.
    joint: { limited: true, armature: 0.01, damping: 0.1 },
    // Body capsules touch only the floor (contype 1, conaffinity 0), 3-D friction (0.7, 0.1, 0.1)
    // unless set, density 1000 kg/m³ (water).
    geom: { contype: 1, conaffinity: 0, condim: 3, friction: [0.7, 0.1, 0.1], density: 1000 }
  },
  // The floor: a 40 m plane that collides with everything (conaffinity 1).
  worldGeoms: [{ name: "floor", type: "plane", size: [40, 40, 40], pos: [0, 0, 0], conaffinity: 1, condim: 3 }],
  bodies: [Mjcf.fromWorld(standing)],
  // Right then left thigh, leg and foot motors: torque = 100 N·m × ctrl, ctrl ∈ [−1, 1].
  motors: ["", "_left"].flatMap((suffix) =>
    ["thigh", "leg", "foot"].map((part) => ({
      joint: `${part}${suffix}_joint`,
      gear: 100,
      ctrlLimited: true,
      ctrlRange: [-1, 1] as const
    }))
  )
}
