import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { killGroup, ProcessGroups } from "../test-support.ts";
import {
  clockTicksPerSecond,
  ProcessMetrics,
  parseProcStat,
  parseVmRssKiB,
  readProcessGroupUsage,
  utilizationBetween,
} from "./metrics.ts";

const groups = new ProcessGroups();
// Piped: a test waits for what its child prints.
const startGroup = (command: string, args: string[]) => groups.start(command, args, "pipe");
afterAll(() => groups.killAll());

/** Waits for a child to print `marker` (it has done its setup). */
async function printed(processGroupId: number, marker: string): Promise<void> {
  const child = groups.children.find((candidate) => candidate.pid === processGroupId);
  const stdout = child?.stdout;
  if (!stdout) throw new Error("no such child");
  let output = "";
  for await (const chunk of stdout) {
    output += String(chunk);
    if (output.includes(marker)) return;
  }
  throw new Error(`the child exited without printing ${marker}`);
}

const BUSY_LOOP = "process.stdout.write('ready'); for (;;) {}";

describe("parsing /proc", () => {
  it("counts the fixed fields from the last parenthesis of the command name", () => {
    const stat = parseProcStat(
      "4242 (my (odd) proc name) R 1 4200 4200 0 -1 4194304 120 0 0 0 731 42 9 3 20 0 3 0 1234 12345678 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
    );
    expect(stat).toEqual({
      pid: 4242,
      state: "R",
      processGroupId: 4200,
      utime: 731,
      stime: 42,
      cutime: 9,
      cstime: 3,
    });
    expect(parseProcStat("garbage")).toBeUndefined();
  });

  it("reads VmRSS in kB, and nothing for a process without one", () => {
    expect(parseVmRssKiB("Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   51200 kB\nThreads:\t7\n")).toBe(51200);
    expect(parseVmRssKiB("Name:\tkthreadd\nState:\tS (sleeping)\n")).toBeUndefined();
  });

  it("adds up the processes of the wanted groups only, without a zombie's memory", () => {
    const procDir = mkdtempSync(join(tmpdir(), "berth-proc-"));
    try {
      const fake = (pid: number, group: number, state: string, ticks: number[], rssKiB?: number) => {
        mkdirSync(join(procDir, String(pid)));
        const [utime, stime, cutime, cstime] = ticks;
        writeFileSync(
          join(procDir, String(pid), "stat"),
          `${pid} (sh -c x) ${state} 1 ${group} ${group} 0 -1 0 0 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 0 0 0`,
        );
        writeFileSync(
          join(procDir, String(pid), "status"),
          rssKiB === undefined ? "Name:\tx\n" : `Name:\tx\nVmRSS:\t${rssKiB} kB\n`,
        );
      };
      fake(100, 100, "S", [10, 5, 20, 5], 2048);
      fake(101, 100, "R", [200, 0, 0, 0], 4096);
      fake(102, 100, "Z", [3, 2, 0, 0]);
      fake(200, 200, "R", [999, 999, 0, 0], 999_999);
      fake(300, 300, "S", [50, 50, 0, 0], 1024);
      mkdirSync(join(procDir, "self"));

      const usage = readProcessGroupUsage([100, 300], procDir);
      expect(usage.processes).toBe(3);
      expect(usage.cpuSeconds).toBeCloseTo((10 + 5 + 20 + 5 + 200 + 5 + 100) / clockTicksPerSecond(), 9);
      expect(usage.rssMiB).toBe(7);
      expect(readProcessGroupUsage([], procDir)).toEqual({ cpuSeconds: 0, rssMiB: 0, processes: 0 });
    } finally {
      rmSync(procDir, { recursive: true, force: true });
    }
  });
});

describe("utilization", () => {
  it("is CPU seconds per wall second against the task's vCPUs, and RSS against its memory", () => {
    const size = { cpuUnits: 512, memoryMiB: 1024 };
    const utilization = utilizationBetween(
      { at: 0, cpuSeconds: 10, rssMiB: 100 },
      { at: 2000, cpuSeconds: 10.5, rssMiB: 256 },
      size,
    );
    // 0.5 s of CPU in 2 s is a quarter of a vCPU, half of the task's 0.5 vCPU.
    expect(utilization.cpu).toBeCloseTo(50, 9);
    expect(utilization.memory).toBeCloseTo(25, 9);
    expect(
      utilizationBetween({ at: 0, cpuSeconds: 9, rssMiB: 0 }, { at: 1000, cpuSeconds: 1, rssMiB: 0 }, size)
        .cpu,
    ).toBe(0);
    expect(
      utilizationBetween(
        { at: 0, cpuSeconds: 0, rssMiB: 0 },
        { at: 1000, cpuSeconds: 1, rssMiB: 0 },
        {
          cpuUnits: 0,
          memoryMiB: 0,
        },
      ),
    ).toEqual({ cpu: Number.NaN, memory: Number.NaN });
  });

  it("reads the clock tick rate from getconf", () => {
    expect(clockTicksPerSecond()).toBeGreaterThan(0);
    expect(Number.isInteger(clockTicksPerSecond())).toBe(true);
  });
});

describe("measuring real processes", () => {
  it("shows a busy loop far above a 64-unit task's CPU, and an idle sleep near 0", async () => {
    const busy = startGroup(process.execPath, ["-e", BUSY_LOOP]);
    const idle = startGroup("sleep", ["60"]);
    await printed(busy, "ready");
    const metrics = new ProcessMetrics();
    const busyTask = { taskId: "busy", processGroups: [busy], cpuUnits: 64, memoryMiB: 512 };
    const idleTask = { taskId: "idle", processGroups: [idle], cpuUnits: 64, memoryMiB: 512 };
    try {
      expect(metrics.sample(busyTask)).toBeUndefined();
      expect(metrics.sample(idleTask)).toBeUndefined();
      await sleep(600);
      const busyUtilization = metrics.sample(busyTask);
      const idleUtilization = metrics.sample(idleTask);
      // A task of 64 units is 1/16 of a core. One thread spinning is at most a whole core, 1,600 %
      // of it; on a machine so loaded that the loop gets a twelfth of a core it is still over 100 %.
      expect(busyUtilization?.cpu).toBeGreaterThan(100);
      expect(busyUtilization?.cpu).toBeLessThan(2000);
      expect(idleUtilization?.cpu).toBeLessThan(5);
      expect(idleUtilization?.memory).toBeLessThan(2);
    } finally {
      killGroup(busy);
      killGroup(idle);
    }
  });

  it("shows the resident memory of a process that allocates 100 MB", async () => {
    const script =
      "const block = Buffer.alloc(100 * 1024 * 1024, 1); process.stdout.write('ready'); setInterval(() => block[0]++, 1000);";
    const group = startGroup(process.execPath, ["-e", script]);
    try {
      await printed(group, "ready");
      const usage = readProcessGroupUsage([group]);
      expect(usage.processes).toBe(1);
      expect(usage.rssMiB).toBeGreaterThanOrEqual(100);
      expect(usage.rssMiB).toBeLessThan(400);

      const metrics = new ProcessMetrics();
      const task = { taskId: "memory", processGroups: [group], cpuUnits: 256, memoryMiB: 512 };
      metrics.sample(task);
      await sleep(150);
      const utilization = metrics.sample(task);
      expect(utilization?.memory).toBeGreaterThanOrEqual((100 / 512) * 100);
      expect(utilization?.memory).toBeLessThan((400 / 512) * 100);
    } finally {
      killGroup(group);
    }
  });

  it("finds every process of a group, not only its leader", async () => {
    const group = startGroup("sh", ["-c", "sleep 60 & sleep 60 & echo ready; wait"]);
    const other = startGroup("sleep", ["60"]);
    try {
      await printed(group, "ready");
      expect(readProcessGroupUsage([group]).processes).toBe(3);
      expect(readProcessGroupUsage([group, other]).processes).toBe(4);
    } finally {
      killGroup(group);
      killGroup(other);
    }
  });

  it("keeps the previous sample per task and forgets tasks that are gone", async () => {
    let clock = 0;
    const metrics = new ProcessMetrics({ clock: () => clock });
    const group = startGroup("sleep", ["60"]);
    const task = { taskId: "t1", processGroups: [group], cpuUnits: 1024, memoryMiB: 512 };
    try {
      expect(metrics.sample(task)).toBeUndefined();
      clock = 50;
      // Too soon after the first sample to measure a rate.
      expect(metrics.sample(task)).toBeUndefined();
      clock = 1000;
      const utilization = metrics.sample(task);
      expect(utilization?.cpu).toBeLessThan(5);
      clock = 1050;
      expect(metrics.sample(task)).toEqual(utilization);
      metrics.retain(new Set(["another-task"]));
      clock = 5000;
      expect(metrics.sample(task)).toBeUndefined();
    } finally {
      killGroup(group);
    }
  });
});
