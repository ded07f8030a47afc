import { MemoryStore } from '../../src/pool/memory';
import { storeContract } from './store.contract';

let store: MemoryStore;
storeContract(
  'memory',
  () => {
    store = new MemoryStore();
    return Promise.resolve({
      store,
      setFence: (f: number) => {
        store.setFence(f);
        return Promise.resolve();
      },
    });
  },
  () => store.close(),
);
