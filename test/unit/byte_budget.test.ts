import test from 'tape';
import { ByteBudget } from '../../src/util/byte_budget.js';

test('byte budget: full at the bound, room again only at half, listeners told once per return', (t) => {
  const budget = new ByteBudget(100);
  let rooms = 0;
  const stop = budget.onRoom(() => rooms++);
  budget.change(99);
  t.equal(budget.full, false, 'under the bound');
  budget.change(1);
  t.equal(budget.full, true, 'at the bound');
  budget.change(-40);
  t.equal(budget.full, true, 'still full above half');
  budget.change(-10);
  t.equal(budget.full, false, 'room at half');
  t.equal(rooms, 1);
  budget.change(-50);
  t.equal(rooms, 1, 'releasing more while not full tells no one');
  stop();
  budget.change(100);
  budget.change(-100);
  t.equal(rooms, 1, 'a stopped listener is not called');
  t.end();
});
