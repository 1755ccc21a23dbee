import pkg from "../package.json" with { type: "json" };

/** Set by build.ts in the compiled binary (version+commit); package.json's version otherwise. */
export const VERSION: string = process.env.COURSEPAY_VERSION ?? pkg.version;
