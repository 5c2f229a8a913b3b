/**
 * The HalfCheetah-v2 model: a planar cat-like runner (a torso capsule with a head, a back and a front
 * leg of three hinged capsules each) moving in the x–z plane, driven by six motors. Every number below
 * is the published gym model's (gym/envs/mujoco/assets/half_cheetah.xml, the file D4RL's
 * halfcheetah datasets were collected with), written out here as our own typed description; angles
 * are in radians, lengths in metres.
 */
import type * as Mjcf from "./Mjcf.ts"

/** `mj_step`s per environment step (gym's frame_skip for HalfCheetah): dt = 5 × 0.01 s. */
export const frameSkip = 5

/** Capsule radius shared by every body part (m). */
const radius = 0.046

/** A body part: a capsule of half-length `halfLength` centred at `pos`, tilted by `tilt` rad about +y. */
const limb = (name: string, pos: Mjcf.Vec3, tilt: number, halfLength: number): Mjcf.Geom => ({
  name,
  type: "capsule",
  size: [radius, halfLength],
  pos,
  axisAngle: [0, 1, 0, tilt]
})

/**
 * A leg joint: a hinge about +y at the body origin with its range (rad), a spring pulling it back to
 * 0 (stiffness, N·m/rad) and viscous damping (N·m·s/rad).
 */
const hinge = (
  name: string,
  range: readonly [number, number],
  stiffness: number,
  damping: number
): Mjcf.Joint => ({ name, type: "hinge", axis: [0, 1, 0], pos: [0, 0, 0], range, stiffness, damping })

/** An unactuated root joint at the torso's origin, free of springs, damping, armature and limits. */
const rootJoint = (name: string, type: "slide" | "hinge", axis: Mjcf.Vec3): Mjcf.Joint => ({
  name,
  type,
  axis,
  pos: [0, 0, 0],
  limited: false,
  armature: 0,
  damping: 0,
  stiffness: 0
})

/**
 * One leg as a chain of bodies, thigh → shin → foot: each entry places its body relative to the
 * previous one, then gives its joint (range, stiffness, damping) and its capsule (centre, tilt,
 * half-length).
 */
interface Segment {
  readonly name: string
  readonly pos: Mjcf.Vec3
  readonly range: readonly [number, number]
  readonly stiffness: number
  readonly damping: number
  readonly geomPos: Mjcf.Vec3
  readonly tilt: number
  readonly halfLength: number
}

const chain = (segments: ReadonlyArray<Segment>): Mjcf.Body => {
  const [s, ...rest] = segments
  return {
    name: s.name,
    pos: s.pos,
    joints: [hinge(s.name, s.range, s.stiffness, s.damping)],
    geoms: [limb(s.name, s.geomPos, s.tilt, s.halfLength)],
    children: rest.length === 0 ? [] : [chain(rest)]
  }
}

/** The back leg, hanging from the torso's rear end. */
const backLeg = chain([
  { name: "bthigh", pos: [-0.5, 0, 0], range: [-0.52, 1.05], stiffness: 240, damping: 6,
    geomPos: [0.1, 0, -0.13], tilt: -3.8, halfLength: 0.145 },
  { name: "bshin", pos: [0.16, 0, -0.25], range: [-0.785, 0.785], stiffness: 180, damping: 4.5,
    geomPos: [-0.14, 0, -0.07], tilt: -2.03, halfLength: 0.15 },
  { name: "bfoot", pos: [-0.28, 0, -0.14], range: [-0.4, 0.785], stiffness: 120, damping: 3,
    geomPos: [0.03, 0, -0.097], tilt: -0.27, halfLength: 0.094 }
])

/** The front leg, hanging from the torso's front end. */
const frontLeg = chain([
  { name: "fthigh", pos: [0.5, 0, 0], range: [-1, 0.7], stiffness: 180, damping: 4.5,
    geomPos: [-0.07, 0, -0.12], tilt: 0.52, halfLength: 0.133 },
  { name: "fshin", pos: [-0.14, 0, -0.24], range: [-1.2, 0.87], stiffness: 120, damping: 3,
    geomPos: [0.065, 0, -0.09], tilt: -0.6, halfLength: 0.106 },
  { name: "ffoot", pos: [0.13, 0, -0.18], range: [-0.5, 0.5], stiffness: 60, damping: 1.5,
    geomPos: [0.045, 0, -0.07], tilt: -0.6, halfLength: 0.07 }
])

/** The torso at 0.7 m: a 1 m capsule along x and a head capsule ahead of it, with both legs. */
const torso: Mjcf.Body = {
  name: "torso",
  pos: [0, 0, 0.7],
  // Slide along x, slide along z, pitch about y.
  joints: [
    rootJoint("rootx", "slide", [1, 0, 0]),
    rootJoint("rootz", "slide", [0, 0, 1]),
    rootJoint("rooty", "hinge", [0, 1, 0])
  ],
  geoms: [
    { name: "torso", type: "capsule", size: [radius], fromTo: [[-0.5, 0, 0], [0.5, 0, 0]] },
    limb("head", [0.6, 0, 0.1], 0.87, 0.15)
  ],
  children: [backLeg, frontLeg]
}

/** Motor gears (N·m per unit ctrl), in actuator order. */
const gears: ReadonlyArray<readonly [string, number]> = [
  ["bthigh", 120],
  ["bshin", 90],
  ["bfoot", 60],
  ["fthigh", 120],
  ["fshin", 60],
  ["ffoot", 30]
]

/** The HalfCheetah model. */
export const model: Mjcf.Model = {
  name: "cheetah",
  // Masses from the capsules' volumes, then scaled so the whole cheetah weighs 14 kg.
  compiler: { angle: "radian", inertiaFromGeom: true, totalMass: 14 },
  option: { timestep: 0.01, gravity: [0, 0, -9.81] },
  defaults: {
    // Every leg joint: limited, armature 0.1, and (overridden per joint) damping 0.01 / stiffness 8;
    // soft limits with solref (0.02, 1) and solimp (0, 0.8, 0.03).
    joint: {
      limited: true,
      armature: 0.1,
      damping: 0.01,
      stiffness: 8,
      solreflimit: [0.02, 1],
      solimplimit: [0, 0.8, 0.03]
    },
    // Body capsules touch only the floor (contype 1, conaffinity 0), with 3-D friction 0.4.
    geom: {
      contype: 1,
      conaffinity: 0,
      condim: 3,
      friction: [0.4, 0.1, 0.1],
      solref: [0.02, 1],
      solimp: [0, 0.8, 0.01]
    },
    motor: { ctrlLimited: true, ctrlRange: [-1, 1] }
  },
  // The floor: a 40 m plane that collides with everything (conaffinity 1).
  worldGeoms: [{ name: "floor", type: "plane", size: [40, 40, 40], pos: [0, 0, 0], conaffinity: 1, condim: 3 }],
  bodies: [torso],
  motors: gears.map(([joint, gear]) => ({ name: joint, joint, gear }))
}

