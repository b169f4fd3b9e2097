/** The bare fan-out server's trigger: a unary method whose request is a revision as decimal text. */
export const firePath = "/launchpad.bench.v1.BareFanout/Fire";
