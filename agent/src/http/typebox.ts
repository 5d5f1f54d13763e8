import * as TypeBox from "@sinclair/typebox";

/**
 * The TypeBox builders the agent's schemas are written with, as the `Type` namespace they use.
 * TypeBox's own `Type` is one object holding every builder it has (template literals, mapped and
 * conditional types, extends checks, …: ~35 KB of the bundle); a bundler cannot drop what an
 * object refers to, so the agent takes TypeBox's standalone builders instead (the same functions
 * `Type`'s methods call) and bundles only these. A builder missing here is a type error where used.
 */
export const Type = {
  Array: TypeBox.Array,
  Boolean: TypeBox.Boolean,
  Integer: TypeBox.Integer,
  Literal: TypeBox.Literal,
  Null: TypeBox.Null,
  Number: TypeBox.Number,
  Object: TypeBox.Object,
  Optional: TypeBox.Optional,
  Record: TypeBox.Record,
  Recursive: TypeBox.Recursive,
  String: TypeBox.String,
  Union: TypeBox.Union,
  Unknown: TypeBox.Unknown,
};
