import { describe, expect, it } from "vitest";
import { defaultSchedule, scheduleProblem, scheduleText, zoneChoices } from "./dnd";

const ZONES = ["Europe/Berlin", "UTC"];

describe("quiet hours", () => {
  it.each([
    [{ start: "22:00", end: "07:00", timeZone: "UTC" }, null],
    [{ start: "09:30", end: "17:00", timeZone: "Europe/Berlin" }, null],
    [{ start: "24:00", end: "07:00", timeZone: "UTC" }, "Times are HH:MM, 00:00 to 23:59"],
    [{ start: "7:00", end: "08:00", timeZone: "UTC" }, "Times are HH:MM, 00:00 to 23:59"],
    [{ start: "08:00", end: "08:00", timeZone: "UTC" }, "The start and the end must differ"],
    [{ start: "08:00", end: "09:00", timeZone: "Mars/Olympus" }, "Choose a time zone from the list"],
  ])("%o → %s", (schedule, problem) => {
    expect(scheduleProblem(schedule, ZONES)).toBe(problem);
  });

  it("says when the window runs into the next day", () => {
    expect(scheduleText(defaultSchedule("UTC"))).toBe("22:00 to 07:00 the next day");
    expect(scheduleText({ start: "12:00", end: "13:00", timeZone: "UTC" })).toBe("12:00 to 13:00");
  });

  it("offers the local and the saved zone even when the browser lists neither", () => {
    expect(zoneChoices([], "Etc/GMT-3", "Asia/Kolkata")).toEqual(["Asia/Kolkata", "Etc/GMT-3"]);
    expect(zoneChoices(ZONES, "UTC")).toEqual(ZONES);
  });
});
