// Browser scenarios of issue 18's groups: the group info panel (rename and describe, how long
// messages stay, add a member, change a role, hand the group over, leave), with every change shown to the other members as a
// system message in the timeline and in their conversation list; deletion by the owner takes the
// group off everyone's list.

import { assert, signUp } from "./helpers.mjs";

async function createGroup(owner, name, members) {
  await owner.page.getByRole("button", { name: "New conversation" }).click();
  for (const who of members) {
    await owner.page.getByLabel("Find people").fill(who.username);
    await owner.page.getByRole("button", { name: "Add to group" }).click();
  }
  await owner.page.getByLabel("Group name").fill(name);
  await owner.page.getByRole("button", { name: "Create group" }).click();
  await owner.page.getByRole("heading", { name }).waitFor();
}

const notice = (user, text) => user.page.getByTestId("system-message").filter({ hasText: text });
const listed = (user, name) =>
  user.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: new RegExp(name) });

export const groupScenarios = {
  async "the group info panel renames, adds, hands over and leaves; members see each change"({ browser, server, shot }) {
    const ann = await signUp(browser, server, "Ann");
    const ben = await signUp(browser, server, "Ben");
    const cat = await signUp(browser, server, "Cat");
    await createGroup(ann, "Trip", [ben]);
    await listed(ben, "Trip").click();
    await ben.page.getByRole("heading", { name: "Trip" }).waitFor();

    // Ann renames and describes the group: Ben's header and timeline follow.
    await ann.page.getByRole("button", { name: "Group info" }).click();
    const panel = ann.page.getByRole("dialog", { name: "Group info" });
    const details = panel.getByRole("form", { name: "Group name and description" });
    await details.getByLabel("Name").fill("Trip to Rome");
    await details.getByLabel("Description").fill("Flights on Friday");
    await details.getByRole("button", { name: "Save" }).click();
    await notice(ben, "renamed the group to “Trip to Rome”").waitFor();
    await ben.page.getByRole("heading", { name: "Trip to Rome" }).waitFor();
    // The owner decides how long messages stay.
    await panel.getByLabel("Keep messages for").selectOption("30d");
    await notice(ben, "Ann set messages here to be deleted after 30 days").waitFor();

    // Ann adds Cat; Cat finds the group in the list with the notice.
    await panel.getByLabel("Add people").fill(cat.username);
    await panel.getByRole("list", { name: "People to add" }).getByRole("button", { name: "Add", exact: true }).click();
    await panel.getByRole("list", { name: "Members" }).getByRole("listitem", { name: "Cat" }).waitFor();
    await notice(ben, "Ann added Cat").waitFor();
    await listed(cat, "Trip to Rome").click();
    await notice(cat, "Ann added Cat").waitFor();

    // Ann makes Ben an admin, then hands the group to him and leaves.
    await panel.getByLabel("Role of Ben").selectOption("admin");
    await notice(cat, "Ann made Ben an admin").waitFor();
    await panel.getByLabel("Role of Ben").selectOption("owner");
    await panel.getByRole("button", { name: "Make owner" }).click();
    await notice(cat, "Ann made Ben the owner").waitFor();
    await shot(ann.page, "group-info");
    await panel.getByRole("button", { name: "Leave group" }).click();
    await panel.getByRole("button", { name: "Leave", exact: true }).click();
    await notice(ben, "Ann left").waitFor();
    await listed(ann, "Trip to Rome").waitFor({ state: "detached" });

    // Ben, the owner now, deletes the group: it leaves Cat's list too.
    await ben.page.getByRole("button", { name: "Group info" }).click();
    const bens = ben.page.getByRole("dialog", { name: "Group info" });
    await bens.getByRole("button", { name: "Delete group" }).click();
    await bens.getByRole("button", { name: "Delete for everyone" }).click();
    await listed(cat, "Trip to Rome").waitFor({ state: "detached" });
    await listed(ben, "Trip to Rome").waitFor({ state: "detached" });
    assert((await cat.page.getByRole("heading", { name: "Trip to Rome" }).count()) === 0, "the deleted group stayed open");
    for (const who of [ann, ben, cat]) await who.context.close();
  },
};
