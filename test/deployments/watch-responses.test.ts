import { describe, expect, it } from "vitest";
import { WatchResponses } from "../../services/deployments/watch/responses.js";

/** A snapshot or subscription message, with contents a release can drop. */
interface Message {
  text: string | undefined;
}

const release = (snapshot: Message) => {
  snapshot.text = undefined;
};

/** Subscriptions opened by a stream: where each started, and whether it was returned. */
function subscriptions() {
  const opened: { from: number; returned: boolean }[] = [];
  const subscribe = (from: number): AsyncIterator<Message> => {
    const record = { from, returned: false };
    opened.push(record);
    let revision = from;
    return {
      next: async () => ({ done: false, value: { text: `after ${++revision}` } }),
      return: async () => {
        record.returned = true;
        return { done: true, value: undefined };
      },
    };
  };
  return { opened, subscribe };
}

describe("a watch stream's responses", () => {
  it("send the snapshot first, subscribe after its revision only once it was written, and empty it then", async () => {
    const { opened, subscribe } = subscriptions();
    const snapshot: Message = { text: "snapshot at 7" };
    const responses = new WatchResponses(async () => ({ message: snapshot, revision: 7 }), subscribe, release);

    expect(await responses.next()).toEqual({ done: false, value: { text: "snapshot at 7" } });
    expect(opened).toEqual([]);
    expect(snapshot.text).toBe("snapshot at 7");

    expect(await responses.next()).toEqual({ done: false, value: { text: "after 8" } });
    expect(snapshot.text).toBeUndefined();
    expect(opened).toEqual([{ from: 7, returned: false }]);
  });

  it("resuming, send no snapshot and subscribe after the resume revision", async () => {
    const { opened, subscribe } = subscriptions();
    const responses = new WatchResponses<Message>(42, subscribe, release);
    expect(await responses.next()).toEqual({ done: false, value: { text: "after 43" } });
    expect(opened).toEqual([{ from: 42, returned: false }]);
  });

  it("return() ends the subscription, and the stream stays finished", async () => {
    const { opened, subscribe } = subscriptions();
    const responses = new WatchResponses<Message>(1, subscribe, release);
    await responses.next();
    expect(await responses.return()).toEqual({ done: true, value: undefined });
    expect(opened).toEqual([{ from: 1, returned: true }]);
    expect(await responses.next()).toEqual({ done: true, value: undefined });
  });

  it("return() while the snapshot is read sends neither the snapshot nor anything after it", async () => {
    const { opened, subscribe } = subscriptions();
    let finishRead!: () => void;
    const read = new Promise<void>((resolve) => (finishRead = resolve));
    const responses = new WatchResponses<Message>(
      async () => {
        await read;
        return { message: { text: "late snapshot" }, revision: 3 };
      },
      subscribe,
      release,
    );
    const first = responses.next();
    await responses.return();
    finishRead();
    expect(await first).toEqual({ done: true, value: undefined });
    expect(await responses.next()).toEqual({ done: true, value: undefined });
    expect(opened).toEqual([]);
  });

  it("a failed snapshot read is the stream's error", async () => {
    const { opened, subscribe } = subscriptions();
    const responses = new WatchResponses<Message>(() => Promise.reject(new Error("no such deployment")), subscribe, release);
    await expect(responses.next()).rejects.toThrow("no such deployment");
    expect(opened).toEqual([]);
  });
});
