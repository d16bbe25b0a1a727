/**
 * The SST v2 app that installs Berth in an AWS account: stages and the list of stacks, nothing
 * else. The stacks (network, cluster, store, workflows, api, events, console) arrive with the
 * production infrastructure issue; until then the app declares none.
 */
export default {
  config() {
    return { name: "berth", region: "us-east-1" };
  },
  stacks() {},
};
