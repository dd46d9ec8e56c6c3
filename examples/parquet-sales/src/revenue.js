// One row per order: its id, the day it was sold and its revenue (a coupon takes 10% off).
exports.run = (orders) =>
  orders.map((order) => {
    const revenue = order.quantity * order.unit_price * (order.coupon ? 0.9 : 1);
    return `${order.order_id},${order.sold_at.toISOString().slice(0, 10)},${revenue.toFixed(2)}`;
  });
