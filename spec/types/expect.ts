/**
 * Type-level assertions for the files in spec/types/. These files are never run: `tsc`
 * compiles them (`npm test` type-checks the whole project, and package-types.spec.ts
 * compiles them again against the built declarations under the strictest flags). A
 * line marked `@ts-expect-error` must fail to compile; an unused marker is an error.
 */

/** True when X and Y are the same type (not merely assignable either way). */
export type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;

/** Compiles only if `T` is `true`: `expect<Equal<typeof x, number>>()`. */
export declare function expect<T extends true>(): void;

/** Compiles only if `value` has exactly the type `T`: `exactly<number>()(x)`. */
export declare function exactly<T>(): <V>(value: V & (Equal<V, T> extends true ? unknown : never)) => void;
