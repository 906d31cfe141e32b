/** One model's waiting requests: FIFO per client, round-robin across clients. */
export interface Queued {
  client: string;
  arrivedAt: number;
}

export class ClientQueue<T extends Queued> {
  private readonly byClient = new Map<string, T[]>();
  /** Clients with something queued, in the order they are served next. */
  private readonly rotation: string[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    const list = this.byClient.get(item.client);
    if (list) list.push(item);
    else {
      this.byClient.set(item.client, [item]);
      this.rotation.push(item.client);
    }
    this.count++;
  }

  /** Next client's oldest request; that client then goes to the back of the rotation. */
  shift(): T | undefined {
    const client = this.rotation.shift();
    if (client === undefined) return undefined;
    const list = this.byClient.get(client)!;
    const item = list.shift()!;
    if (list.length > 0) this.rotation.push(client);
    else this.byClient.delete(client);
    this.count--;
    return item;
  }

  remove(item: T): boolean {
    const list = this.byClient.get(item.client);
    const at = list?.indexOf(item) ?? -1;
    if (!list || at < 0) return false;
    list.splice(at, 1);
    if (list.length === 0) {
      this.byClient.delete(item.client);
      this.rotation.splice(this.rotation.indexOf(item.client), 1);
    }
    this.count--;
    return true;
  }

  /** Arrival time of the longest-waiting request, or undefined when empty. */
  oldest(): number | undefined {
    let min: number | undefined;
    for (const list of this.byClient.values()) {
      const first = list[0];
      if (first && (min === undefined || first.arrivedAt < min)) min = first.arrivedAt;
    }
    return min;
  }

  drain(): T[] {
    const all = [...this.byClient.values()].flat();
    this.byClient.clear();
    this.rotation.length = 0;
    this.count = 0;
    return all;
  }
}
