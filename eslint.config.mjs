// typescript-eslint's recommended rules on the whole program; formatting is prettier's job.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "out/", "policy/node_modules/", "**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
            // Tests and the plan read untyped mock inputs and engine payloads.
            "@typescript-eslint/no-explicit-any": "off",
            // Some modules are loaded lazily on purpose (the plan re-imports the program per run).
            "@typescript-eslint/no-require-imports": "off",
        },
    },
);
