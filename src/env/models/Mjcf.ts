/**
 * A typed description of the small part of MuJoCo's MJCF format the locomotion models use (a tree of
 * bodies with joints and geoms, motors, defaults, compiler and simulation options), and `toXml`, which
 * writes it as MJCF text for `Mujoco.compile`. Only physics is described: no lights, cameras,
 * textures, materials or colours, since nothing here renders. Coordinates are MuJoCo 3's only kind,
 * local: a body's `pos` is relative to its parent body, a joint's or geom's to its own body;
 * `fromWorld` converts a tree written in world coordinates. Numbers are written with JavaScript's
 * shortest round-trip form, so MuJoCo parses back the very same double.
 */

/** A point or direction in the parent frame. */
export type Vec3 = readonly [x: number, y: number, z: number]

/** How MuJoCo's compiler reads the model. */
export interface Compiler {
  /** Unit of joint ranges and `axisAngle` angles. */
  readonly angle: "radian" | "degree"
  /** Masses and inertias from the geoms' volumes × density (every locomotion model does this). */
  readonly inertiaFromGeom: boolean
  /** When set, all masses are scaled so that they sum to this (kg). */
  readonly totalMass?: number
}

/** Simulation options. */
export interface Option {
  /** Seconds per `mj_step`. */
  readonly timestep: number
  /** MuJoCo's default is semi-implicit Euler. */
  readonly integrator?: "Euler" | "RK4"
  /** m/s²; MuJoCo's default is (0, 0, −9.81). */
  readonly gravity?: Vec3
}

/** Joint settings that may come from the defaults. */
export interface JointSettings {
  /** Whether `range` is enforced. */
  readonly limited?: boolean
  /** Position limits (units of `Compiler.angle` for hinges). */
  readonly range?: readonly [lower: number, upper: number]
  /** Viscous friction, force = −damping·qvel. */
  readonly damping?: number
  /** Spring towards the reference position, force = −stiffness·(q − ref). */
  readonly stiffness?: number
  /** Extra inertia added to the joint's diagonal of the mass matrix. */
  readonly armature?: number
  /** Softness of the limit constraint: MuJoCo's solref (time constant, damping ratio). */
  readonly solreflimit?: readonly [number, number]
  /** Impedance of the limit constraint: MuJoCo's solimp (dmin, dmax, width). */
  readonly solimplimit?: readonly [number, number, number]
}

/** A hinge (rotation about `axis`) or slide (translation along `axis`) joint. */
export interface Joint extends JointSettings {
  readonly name: string
  readonly type: "hinge" | "slide"
  readonly axis: Vec3
  /** Anchor in the body frame; the origin when left out. */
  readonly pos?: Vec3
  /** The qpos value at which the body is at its modelled position (qpos0). */
  readonly ref?: number
}

/** Geom settings that may come from the defaults: contact and mass. */
export interface GeomSettings {
  /** Collision bitmasks: two geoms can touch when one's contype ANDs the other's conaffinity. */
  readonly contype?: number
  readonly conaffinity?: number
  /** Contact dimensionality: 1 frictionless, 3 sliding friction, … */
  readonly condim?: number
  /** Sliding, torsional and rolling friction; a single number sets the sliding one only. */
  readonly friction?: number | readonly [sliding: number, torsional: number, rolling: number]
  /** Distance at which contacts become active (m). */
  readonly margin?: number
  /** Contact softness and impedance (MuJoCo's solref and solimp). */
  readonly solref?: readonly [number, number]
  readonly solimp?: readonly [number, number, number]
  /** kg/m³, for masses computed from the geoms. */
  readonly density?: number
}

/**
 * A capsule (size = [radius, half-length], along its local z axis) or a plane (size = [half-x,
 * half-y, grid spacing]). A capsule is placed either by `fromTo` (the centres of its two end caps;
 * MuJoCo derives centre, half-length and orientation, and size is then [radius]) or by `pos` with at
 * most one of `axisAngle` (axis, angle in `Compiler.angle` units) or `zAxis` (where its z axis points).
 */
export interface Geom extends GeomSettings {
  readonly name: string
  readonly type: "capsule" | "plane"
  readonly size: ReadonlyArray<number>
  readonly fromTo?: readonly [from: Vec3, to: Vec3]
  readonly pos?: Vec3
  readonly axisAngle?: readonly [x: number, y: number, z: number, angle: number]
  readonly zAxis?: Vec3
}

/** A rigid body: where its frame sits in its parent's, the joints attaching it, its geoms, its children. */
export interface Body {
  readonly name: string
  readonly pos: Vec3
  readonly joints: ReadonlyArray<Joint>
  readonly geoms: ReadonlyArray<Geom>
  readonly children: ReadonlyArray<Body>
}

/** A motor: force (torque for a hinge) = gear · ctrl on `joint`, ctrl clipped to `ctrlRange` when limited. */
export interface Motor {
  readonly name?: string
  readonly joint: string
  readonly gear: number
  readonly ctrlLimited?: boolean
  readonly ctrlRange?: readonly [lower: number, upper: number]
}

/** A whole model. */
export interface Model {
  readonly name: string
  readonly compiler: Compiler
  readonly option: Option
  /** Settings every joint, geom and motor has unless it sets its own. */
  readonly defaults: {
    readonly joint?: JointSettings
    readonly geom?: GeomSettings
    readonly motor?: Omit<Motor, "name" | "joint" | "gear">
  }
  /** Geoms fixed to the world (the floor). */
  readonly worldGeoms: ReadonlyArray<Geom>
  readonly bodies: ReadonlyArray<Body>
  /** In actuator (ctrl) order. */
  readonly motors: ReadonlyArray<Motor>
}

/** The model as MJCF text. */
export const toXml = (model: Model): string => {
  const { compiler, defaults, option } = model
  const lines: Array<string> = [`<mujoco model="${escape(model.name)}">`]
  lines.push(`  ${element("compiler", {
    angle: compiler.angle,
    inertiafromgeom: compiler.inertiaFromGeom,
    settotalmass: compiler.totalMass
  })}`)
  const { gravity, integrator, timestep } = option
  lines.push(`  ${element("option", { timestep, integrator, gravity })}`)
  lines.push("  <default>")
  if (defaults.joint !== undefined) lines.push(`    ${element("joint", jointSettings(defaults.joint))}`)
  if (defaults.geom !== undefined) lines.push(`    ${element("geom", geomSettings(defaults.geom))}`)
  if (defaults.motor !== undefined) lines.push(`    ${element("motor", motorSettings(defaults.motor))}`)
  lines.push("  </default>")
  lines.push("  <worldbody>")
  for (const geom of model.worldGeoms) lines.push(`    ${geomElement(geom)}`)
  for (const body of model.bodies) bodyLines(body, "    ", lines)
  lines.push("  </worldbody>")
  lines.push("  <actuator>")
  for (const motor of model.motors) {
    const { gear, joint, name } = motor
    lines.push(`    ${element("motor", { name, joint, gear, ...motorSettings(motor) })}`)
  }
  lines.push("  </actuator>")
  lines.push("</mujoco>")
  return `${lines.join("\n")}\n`
}

/** A capsule given by the world positions of its two end-cap centres in the model's initial pose. */
export interface WorldCapsule extends GeomSettings {
  readonly name: string
  readonly radius: number
  readonly from: Vec3
  readonly to: Vec3
}

/**
 * A body tree written in world coordinates of the initial pose (every body unrotated), as the
 * published hopper and walker models are: `origin` is the body frame's world position, joint `pos`
 * is the anchor's world position, capsules are world end points.
 */
export interface WorldBody {
  readonly name: string
  readonly origin: Vec3
  readonly joints: ReadonlyArray<Joint>
  readonly capsules: ReadonlyArray<WorldCapsule>
  readonly children: ReadonlyArray<WorldBody>
}

/**
 * The same tree in local coordinates (each position minus its body's origin, each origin minus its
 * parent's). A capsule becomes centre, half-length and z axis = from − to, with the centre taken in
 * world coordinates before the subtraction: the order of operations of MuJoCo's former global mode,
 * for which the published files were written, so the compiled model equals theirs double for double.
 */
export const fromWorld = (body: WorldBody, parentOrigin: Vec3 = [0, 0, 0]): Body => {
  const { origin } = body
  return {
    name: body.name,
    pos: minus(origin, parentOrigin),
    joints: body.joints.map((joint) => ({ ...joint, pos: minus(joint.pos ?? origin, origin) })),
    geoms: body.capsules.map(({ from, name, radius, to, ...settings }) => ({
      name,
      type: "capsule",
      size: [radius, 0.5 * Math.hypot(from[0] - to[0], from[1] - to[1], from[2] - to[2])],
      pos: minus([0.5 * (from[0] + to[0]), 0.5 * (from[1] + to[1]), 0.5 * (from[2] + to[2])], origin),
      zAxis: minus(from, to),
      ...settings
    })),
    children: body.children.map((child) => fromWorld(child, origin))
  }
}

// internal

type Value = string | number | boolean | ReadonlyArray<number> | undefined

const format = (value: Exclude<Value, undefined>): string =>
  typeof value === "string" ? escape(value) : typeof value === "object" ? value.map(String).join(" ") : String(value)

const element = (tag: string, attributes: Readonly<Record<string, Value>>): string => {
  const parts = Object.entries(attributes).flatMap(([key, value]) =>
    value === undefined ? [] : [`${key}="${format(value)}"`]
  )
  return `<${tag}${parts.map((part) => ` ${part}`).join("")}/>`
}

const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const jointSettings = (s: JointSettings): Record<string, Value> => ({
  limited: s.limited,
  range: s.range,
  damping: s.damping,
  stiffness: s.stiffness,
  armature: s.armature,
  solreflimit: s.solreflimit,
  solimplimit: s.solimplimit
})

const geomSettings = (s: GeomSettings): Record<string, Value> => ({
  contype: s.contype,
  conaffinity: s.conaffinity,
  condim: s.condim,
  friction: s.friction,
  margin: s.margin,
  solref: s.solref,
  solimp: s.solimp,
  density: s.density
})

const motorSettings = (s: Omit<Motor, "name" | "joint" | "gear">): Record<string, Value> => ({
  ctrllimited: s.ctrlLimited,
  ctrlrange: s.ctrlRange
})

const geomElement = (geom: Geom): string =>
  element("geom", {
    name: geom.name,
    type: geom.type,
    size: geom.size,
    fromto: geom.fromTo === undefined ? undefined : [...geom.fromTo[0], ...geom.fromTo[1]],
    pos: geom.pos,
    axisangle: geom.axisAngle,
    zaxis: geom.zAxis,
    ...geomSettings(geom)
  })

const bodyLines = (body: Body, indent: string, lines: Array<string>): void => {
  lines.push(`${indent}<body name="${escape(body.name)}" pos="${format(body.pos)}">`)
  const inner = `${indent}  `
  for (const joint of body.joints) {
    lines.push(`${inner}${element("joint", {
      name: joint.name,
      type: joint.type,
      axis: joint.axis,
      pos: joint.pos,
      ref: joint.ref,
      ...jointSettings(joint)
    })}`)
  }
  for (const geom of body.geoms) lines.push(`${inner}${geomElement(geom)}`)
  for (const child of body.children) bodyLines(child, inner, lines)
  lines.push(`${indent}</body>`)
}

const minus = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
