//! The store's bundled data: products, policies and orders.

pub struct Product {
    pub sku: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub price_usd: f64,
    pub dimensions_cm: (u32, u32, u32),
    pub description: &'static str,
}

pub const PRODUCTS: &[Product] = &[
    Product {
        sku: "SOFA-OSLO-3",
        name: "Oslo three-seat sofa",
        category: "sofa",
        price_usd: 1299.0,
        dimensions_cm: (214, 92, 84),
        description:
            "Three-seat sofa in oat boucle with solid oak legs and removable, washable covers.",
    },
    Product {
        sku: "SOFA-BERGEN-L",
        name: "Bergen L-shaped sectional sofa",
        category: "sofa",
        price_usd: 2149.0,
        dimensions_cm: (281, 190, 86),
        description:
            "Corner sectional sofa in charcoal linen; the chaise can be mounted left or right.",
    },
    Product {
        sku: "TBL-AALTO-180",
        name: "Aalto dining table",
        category: "table",
        price_usd: 899.0,
        dimensions_cm: (180, 90, 75),
        description: "Solid ash dining table that seats six; oiled finish, extendable to 240 cm.",
    },
    Product {
        sku: "CHR-LUND",
        name: "Lund dining chair",
        category: "chair",
        price_usd: 179.0,
        dimensions_cm: (46, 52, 81),
        description: "Stackable ash dining chair with a woven paper-cord seat.",
    },
    Product {
        sku: "BED-FJORD-160",
        name: "Fjord queen bed frame",
        category: "bed",
        price_usd: 1049.0,
        dimensions_cm: (170, 212, 95),
        description:
            "Upholstered queen bed frame (160 x 200 cm mattress) with under-bed storage drawers.",
    },
    Product {
        sku: "SHF-KAJ-5",
        name: "Kaj five-shelf bookcase",
        category: "storage",
        price_usd: 349.0,
        dimensions_cm: (80, 35, 200),
        description:
            "Tall walnut-veneer bookcase with five adjustable shelves; wall anchor included.",
    },
    Product {
        sku: "LMP-SOL",
        name: "Sol floor lamp",
        category: "lighting",
        price_usd: 229.0,
        dimensions_cm: (40, 40, 160),
        description: "Brass floor lamp with a linen shade and a dimmable warm-white LED bulb.",
    },
];

pub struct Policy {
    pub id: &'static str,
    pub title: &'static str,
    pub text: &'static str,
}

pub const POLICIES: &[Policy] = &[
    Policy {
        id: "policy-returns",
        title: "Returns",
        text: "You can return any item within 30 days of delivery for a full refund. Items must be unused \
               and in their original packaging. Return shipping is free for sofas, beds and tables; \
               smaller items cost a flat 15 USD to return.",
    },
    Policy {
        id: "policy-shipping",
        title: "Shipping",
        text: "Standard delivery takes 5 to 7 business days and is free on orders over 500 USD, otherwise \
               49 USD. Large items such as sofas and beds are delivered by a two-person team who assemble \
               them in the room of your choice. Express delivery in 2 business days costs 99 USD.",
    },
    Policy {
        id: "policy-warranty",
        title: "Warranty",
        text: "Frames of sofas, beds and tables carry a 10-year warranty; fabrics, cushions and lighting \
               carry a 2-year warranty against manufacturing defects.",
    },
];

pub struct Order {
    pub id: &'static str,
    pub status: &'static str,
    pub detail: &'static str,
}

pub const ORDERS: &[Order] = &[
    Order {
        id: "FH-10021",
        status: "shipped",
        detail: "Oslo three-seat sofa, out for delivery on Thursday between 9:00 and 13:00",
    },
    Order {
        id: "FH-10022",
        status: "processing",
        detail: "Two Lund dining chairs, leaving the warehouse in 2 business days",
    },
];

/// Units in stock per SKU.
pub fn stock(sku: &str) -> u32 {
    match sku {
        "SOFA-OSLO-3" => 4,
        "SOFA-BERGEN-L" => 0,
        "TBL-AALTO-180" => 7,
        "CHR-LUND" => 42,
        "BED-FJORD-160" => 2,
        "SHF-KAJ-5" => 11,
        "LMP-SOL" => 0,
        _ => 0,
    }
}
