// Entry point the Pulumi CLI loads for `--policy-pack policy`. Constructing the pack starts the
// analyzer's gRPC server, so nothing else imports this file: tests, the offline plan and the bot
// call `evaluate()` from ./policies instead.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("hybrid-k3s", {
    policies,
    // Every policy sets its own level; a policy added without one blocks rather than warns.
    enforcementLevel: "mandatory",
});
